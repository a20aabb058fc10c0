"""The schema's Node types by GraphQL name, each with the model whose rows it shows: what
`node(id:)` and `nodes(ids:)` look up, and the types the composed schema publishes.

Not a list of its own: it pairs the one list of types with global ids
(workflow.global_ids.MODELS) with the classes that implement Node. A Node type without global
ids, or a type with global ids but no Node type, fails here, at import.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from strawberry.types.base import get_object_definition
from tortoise.models import Model

from schema import custom_fields, emails, exports, integrations, schedules, templates, types
from schema.node import Node
from workflow.global_ids import MODELS, NOT_NODES

NODES_MAX = 100  # ids per nodes(ids:)
# the modules that define every Node type
DEFINED_IN = (types, integrations, emails, templates, schedules, custom_fields, exports)


@runtime_checkable
class NodeClass(Protocol):
    """A Node type, made from its model's row."""

    @classmethod
    def from_model(cls, row: Any, /) -> Node: ...


def _node_types() -> dict[str, tuple[type[Model], type[NodeClass]]]:
    classes = {
        get_object_definition(cls, strict=True).name: cls
        for cls in Node.__subclasses__()
        if issubclass(cls, NodeClass)  # one without from_model is reported as missing below
    }
    expected = MODELS.keys() - NOT_NODES
    if classes.keys() != expected:
        differ = ", ".join(sorted(classes.keys() ^ expected))
        raise RuntimeError(f"Node types and types with global ids differ: {differ}")
    return {name: (model, classes[name]) for name, model in MODELS.items() if name in classes}


NODE_TYPES = _node_types()
