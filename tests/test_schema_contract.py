"""The committed schema.graphql (staff) and portal.graphql (the client portal) are the
partners' contracts: the code must not drift from them."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from graphql import build_schema
from strawberry import Schema

from api import schema
from api.portal import portal_schema
from tests.test_api_contract import convention_problems

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS: dict[str, tuple[Schema, str]] = {
    "schema.graphql": (schema, "python -m api > schema.graphql"),
    "portal.graphql": (portal_schema, "python -m api.portal > portal.graphql"),
}


@pytest.mark.parametrize("file", SCHEMAS)
def test_code_schema_matches_committed_schema_graphql(file: str) -> None:
    served, command = SCHEMAS[file]
    committed = (ROOT / file).read_text()
    current = served.as_str() + "\n"
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            current.splitlines(keepends=True),
            f"{file} (committed)",
            "schema (code)",
        )
    )
    assert not diff, (
        f"the schema changed: review the diff for partners, then run `{command}`\n" + diff
    )


def test_the_portal_keeps_the_conventions() -> None:
    """Mutations take one `input` and answer a payload with `errors`, as the staff API's."""
    assert convention_problems(build_schema(portal_schema.as_str())) == []
