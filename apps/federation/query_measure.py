"""Static measures of a GraphQL operation: depth, estimated cost and aliases.

Computed from the document and the schema alone, before anything executes, so that the
limits in ``apps.federation.limits`` can refuse a query without running a resolver.

Fragments are followed: a spread counts as if its fragment were written in place, whatever
the fragment is called (a fragment named ``__schema`` hides nothing). Each fragment is
measured once and the result reused, so a "fragment bomb" (A spreads B twice, B spreads C
twice, ...) costs linear time to measure while its exponential size is still counted.
Fragment cycles are skipped here (graphql-core's NoFragmentCyclesRule reports them), as are
undefined fragments (KnownFragmentNamesRule reports those).

The cost model (GitHub's GraphQL API uses the same idea):
- every field resolved once costs 1; ``__typename`` and introspection fields cost 0
  (introspection is answered from memory and is limited by the ``introspection`` switch);
- a field's sub-selection is resolved once per item it returns, so its cost is multiplied by
  the expected item count: the ``first``/``last``/``limit`` argument, else the length of an
  ``ids`` argument (or of a federation ``_entities`` query's ``representations``: one entity
  each), else DEFAULT_LIST_SIZE for a list field, else 1;
- on a Relay connection (``products(first: 20) { edges { node { ... } } }``) the size is on
  the connection field, so its ``edges``/``nodes`` list is not multiplied a second time;
- fragments on alternative types of a union or interface are summed (an upper bound).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_interface_type,
    is_list_type,
    is_object_type,
    value_from_ast_untyped,
)

#: the expected length of a list field that states no size (a pessimistic guess: sources
#: usually page by 10-100 items; clients that ask for more say so with `first`)
DEFAULT_LIST_SIZE = 10
SIZE_ARGUMENTS = ("first", "last", "limit")
ID_LIST_ARGUMENTS = ("ids", "representations")


@dataclass(frozen=True)
class Measure:
    depth: int = 0
    cost: int = 0
    aliases: int = 0

    def __add__(self, other: Measure) -> Measure:  # siblings: deepest, summed, summed
        return Measure(max(self.depth, other.depth), self.cost + other.cost,
                       self.aliases + other.aliases)


_ZERO = Measure()


class QueryMeasurer:
    """Measures the operations of one document against one schema and set of variables.

    Descent stops ``depth_cap`` levels down: past the depth limit the verdict is known, and
    the cap bounds the work and the recursion.
    """

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any] | None, depth_cap: int) -> None:
        self.schema = schema
        self.fragments = fragments
        self.request_variables = dict(variables or {})
        self.variables: dict[str, Any] = {}
        self.depth_cap = depth_cap
        self._memo: dict[tuple[str, bool], Measure] = {}
        self._active: set[str] = set()

    def operation(self, node: OperationDefinitionNode) -> Measure:
        defaults = {
            var.variable.name.value: value_from_ast_untyped(var.default_value)
            for var in node.variable_definitions or ()
            if var.default_value is not None
        }
        self.variables = {**defaults, **self.request_variables}
        self._memo.clear()  # fragment measures depend on the operation's variables
        root = self.schema.get_root_type(node.operation)
        return self._selections(node.selection_set, root, 0, connection_sized=False)

    def _selections(self, selection_set: SelectionSetNode | None,
                    parent: GraphQLNamedType | None, depth: int,
                    connection_sized: bool) -> Measure:
        if selection_set is None or depth >= self.depth_cap:
            return _ZERO
        total = _ZERO
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, depth, connection_sized)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition else parent
                total += self._selections(selection.selection_set, scope, depth,
                                          connection_sized)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread(selection.name.value, depth, connection_sized)
        return total

    def _spread(self, name: str, depth: int, connection_sized: bool) -> Measure:
        fragment = self.fragments.get(name)
        if fragment is None or name in self._active:
            return _ZERO  # undefined or cyclic: graphql-core's own rules report these
        key = (name, connection_sized)
        relative = self._memo.get(key)
        if relative is None:
            self._active.add(name)
            try:
                scope = self.schema.get_type(fragment.type_condition.name.value)
                relative = self._selections(fragment.selection_set, scope, 0, connection_sized)
            finally:
                self._active.discard(name)
            self._memo[key] = relative
        return Measure(depth + relative.depth if relative.depth else 0,
                       relative.cost, relative.aliases)

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None, depth: int,
               connection_sized: bool) -> Measure:
        name = node.name.value
        aliases = 1 if node.alias is not None else 0
        if name == "__typename":
            return Measure(depth + 1, 0, aliases)
        field_type = None
        if (is_object_type(parent) or is_interface_type(parent)) and not name.startswith("__"):
            field_def = parent.fields.get(name)  # type: ignore[union-attr]
            field_type = field_def.type if field_def is not None else None
        is_list = field_type is not None and is_list_type(get_nullable_type(field_type))
        size = self._size(node)
        if size is not None:
            items, sized_children = size, not is_list
        elif is_list:
            items, sized_children = (1 if connection_sized else DEFAULT_LIST_SIZE), False
        else:
            items, sized_children = 1, False
        child_type = get_named_type(field_type) if field_type is not None else None
        child = self._selections(node.selection_set, child_type, depth + 1, sized_children)
        if name.startswith("__"):  # introspection: depth and aliases count, cost does not
            return Measure(max(depth + 1, child.depth), 0, aliases + child.aliases)
        return Measure(max(depth + 1, child.depth), 1 + items * child.cost,
                       aliases + child.aliases)

    def _size(self, node: FieldNode) -> int | None:
        arguments = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in SIZE_ARGUMENTS:
            if name in arguments:
                value = self._value(arguments[name])
                if isinstance(value, int) and not isinstance(value, bool):
                    return max(value, 0)
        for name in ID_LIST_ARGUMENTS:
            if name in arguments:
                value = self._value(arguments[name])
                if isinstance(value, list | tuple):
                    return len(value)
                if value is not None:
                    return 1  # a single value is coerced to a one-item list
        return None

    def _value(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, ListValueNode):
            return list(node.values)
        return value_from_ast_untyped(node, self.variables)
