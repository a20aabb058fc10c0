"""One Python enum per GraphQL enum: strawberry keeps an enum's GraphQL name on the Python class,
so a class published under two names gets whichever was registered last, by import order
(EventType was JobEventType and BoardEventType at once)."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum
from pathlib import Path

from graphql import GraphQLEnumType

from api import schema
from models import EventType

ROOT = Path(__file__).resolve().parent.parent
COMPOSED = "api"  # the module that holds the composed `schema`


def python_enums() -> dict[str, type[Enum]]:
    """The Python enum behind each GraphQL enum of the schema."""
    return {
        name: graphql_type.extensions["strawberry-definition"].wrapped_cls
        for name, graphql_type in schema._schema.type_map.items()
        if isinstance(graphql_type, GraphQLEnumType) and not name.startswith("__")
    }


def test_every_graphql_enum_has_a_python_enum_of_its_own() -> None:
    backing = python_enums()
    assert {"JobEventType", "BoardEventType"} <= set(backing)
    classes = list(backing.values())
    assert len(set(classes)) == len(classes), backing
    # and each class carries the name of the GraphQL enum it backs, not another one's
    assert {n: cls.__strawberry_definition__.name for n, cls in backing.items()} == {
        n: n for n in backing
    }


def test_board_event_kinds_are_the_event_types() -> None:
    board = python_enums()["BoardEventType"]
    webhook_only = [("EXPORT_FINISHED", "EXPORT_FINISHED")]
    assert [(k.name, k.value) for k in board] == [
        *((t.name, t.value) for t in EventType),
        *webhook_only,
    ]


def test_schema_is_the_same_whichever_module_is_imported_first() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    firsts = ["schema.events", "schema.integrations", "schema.types"]
    runs = {
        first: subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import {first}\nfrom {COMPOSED} import schema\nprint(schema.as_str())",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for first in firsts
    }
    printed = {first: run.communicate(timeout=120)[0] for first, run in runs.items()}
    assert {first: text == committed for first, text in printed.items()} == dict.fromkeys(
        firsts, True
    )
