"""The committed schema.graphql is the partners' contract: the code must not drift from it."""

from __future__ import annotations

import difflib
from pathlib import Path

from api import schema

COMMITTED = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_code_schema_matches_committed_schema_graphql() -> None:
    committed = COMMITTED.read_text()
    current = schema.as_str() + "\n"
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            current.splitlines(keepends=True),
            "schema.graphql (committed)",
            "schema (code)",
        )
    )
    assert not diff, (
        "the schema changed: review the diff for partners, then run "
        "`python -m api > schema.graphql`\n" + diff
    )
