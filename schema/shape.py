"""The shape limits of a document, checked with validation: depth and aliases.

Every field counts toward the depth, introspection's included (`__schema`, `__type`: nesting
them is no cheaper than nesting anything else; strawberry's depth limiter skips them). Each
fragment is measured once however often it is spread: strawberry's limiters walk a fragment
again at every spread, so a chain of fragments each spreading the next twice took seconds to
validate at 18 links and was unbounded below the token limit.
"""

from __future__ import annotations

from collections.abc import Collection

from graphql import (
    DefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from workflow.errors import ErrorCode


class _Measure:
    """Depth (fields with a selection set on the deepest path) and alias count of selection
    sets, fragments measured once."""

    def __init__(self, definitions: Collection[DefinitionNode]) -> None:
        self.fragments = {
            d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, tuple[int, int]] = {}
        self.open: set[str] = set()  # a cycle (refused by NoFragmentCyclesRule) counts 0

    def selections(self, node: SelectionSetNode | None) -> tuple[int, int]:
        depth = aliases = 0
        for selection in node.selections if node else ():
            if isinstance(selection, FieldNode):
                inner, inner_aliases = self.selections(selection.selection_set)
                depth = max(depth, inner + 1 if selection.selection_set else 0)
                aliases += inner_aliases + int(selection.alias is not None)
            elif isinstance(selection, InlineFragmentNode):
                inner, inner_aliases = self.selections(selection.selection_set)
                depth, aliases = max(depth, inner), aliases + inner_aliases
            elif isinstance(selection, FragmentSpreadNode):
                inner, inner_aliases = self.fragment(selection.name.value)
                depth, aliases = max(depth, inner), aliases + inner_aliases
        return depth, aliases

    def fragment(self, name: str) -> tuple[int, int]:
        if name in self.measured:
            return self.measured[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.open:  # unknown: KnownFragmentNamesRule says so
            return 0, 0
        self.open.add(name)
        self.measured[name] = self.selections(fragment.selection_set)
        self.open.discard(name)
        return self.measured[name]


def shape_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations deeper than `max_depth` (root fields are at 0,
    as with strawberry's QueryDepthLimiter) and documents whose operations hold more than
    `max_aliases` aliases, fragments expanded."""

    class ShapeRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measure = _Measure(context.document.definitions)
            aliases = 0
            for definition in context.document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                depth, found = measure.selections(definition.selection_set)
                aliases += found
                if depth > max_depth:
                    name = definition.name.value if definition.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}",
                            definition,
                            extensions={"code": str(ErrorCode.QUERY_TOO_COMPLEX)},
                        )
                    )
            if aliases > max_aliases:
                context.report_error(
                    GraphQLError(
                        f"{aliases} aliases found. Allowed: {max_aliases}",
                        extensions={"code": str(ErrorCode.QUERY_TOO_COMPLEX)},
                    )
                )

    return ShapeRule
