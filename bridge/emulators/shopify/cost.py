"""Query cost as Shopify calculates it, and the leaky bucket it is spent from.

Static (requested) cost, before the query runs, from shopify.dev "GraphQL Admin API rate
limits": a scalar or enum field costs 0, an object 1 (plus what is selected inside it), a
connection 2 plus `first` (or `last`) times the cost of one item (1 for the item, plus what
is selected inside its node), and each mutation field 10. A list of objects bounded by
`first` costs like a connection's items; an unbounded list like one object. `pageInfo` and
`cursor` are part of the connection's 2. The actual cost walks the answer the same way,
counting the items returned instead of those requested; Shopify refunds the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)

MUTATION_COST = 10
CONNECTION_COST = 2
MAX_QUERY_COST = 1000

# Shopify's Standard plan (per app and shop); Advanced and Plus restore faster.
STANDARD_MAXIMUM = 2000.0
STANDARD_RESTORE_RATE = 100.0


def _named(type_: GraphQLOutputType) -> tuple[GraphQLNamedType, bool]:
    """The named type under NonNull/List wrappers, and whether a list was among them."""
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


def _is_connection(type_: GraphQLNamedType) -> bool:
    return type_.name.endswith("Connection")


class QueryCost:
    """Requested and actual cost of one operation of a validated document."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = dict(variables)

    def requested(self, operation: OperationDefinitionNode) -> int:
        root = self._root(operation)
        if operation.operation == OperationType.MUTATION:
            return MUTATION_COST * len(list(self._fields(operation.selection_set, root)))
        return self._selection(operation.selection_set, root, None)

    def actual(self, operation: OperationDefinitionNode, data: Mapping[str, Any] | None) -> int:
        root = self._root(operation)
        if operation.operation == OperationType.MUTATION:
            return MUTATION_COST * len(list(self._fields(operation.selection_set, root)))
        return self._selection(operation.selection_set, root, data or {})

    def _root(self, operation: OperationDefinitionNode) -> GraphQLObjectType:
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        root = (
            self.schema.mutation_type
            if operation.operation == OperationType.MUTATION
            else self.schema.query_type
        )
        assert root is not None
        return root

    def _fields(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType
    ) -> list[tuple[FieldNode, GraphQLField]]:
        found: list[tuple[FieldNode, GraphQLField]] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields = getattr(parent, "fields", {})
                if selection.name.value in fields:
                    found.append((selection, fields[selection.name.value]))
            elif isinstance(selection, InlineFragmentNode):
                found.extend(self._fields(selection.selection_set, parent))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    found.extend(self._fields(fragment.selection_set, parent))
        return found

    def _selection(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, data: Any
    ) -> int:
        total = 0
        for node, definition in self._fields(selection_set, parent):
            key = node.alias.value if node.alias else node.name.value
            value = data.get(key) if isinstance(data, Mapping) else None
            total += self._field(node, definition, data is not None, value)
        return total

    def _field(self, node: FieldNode, definition: GraphQLField, actual: bool, value: Any) -> int:
        type_, is_list = _named(definition.type)
        if not isinstance(type_, GraphQLObjectType) or node.selection_set is None:
            return 0
        if actual and value is None:
            return 0
        if _is_connection(type_):
            return self._connection(node, definition, type_, value if actual else None, actual)
        if is_list:
            if actual:
                items = value if isinstance(value, list) else []
                return sum(1 + self._selection(node.selection_set, type_, item) for item in items)
            size = self._size(node, definition)
            per_item = 1 + self._selection(node.selection_set, type_, None)
            return per_item * (size if size is not None else 1)
        return 1 + self._selection(node.selection_set, type_, value if actual else None)

    def _connection(
        self,
        node: FieldNode,
        definition: GraphQLField,
        type_: GraphQLObjectType,
        value: Any,
        actual: bool,
    ) -> int:
        assert node.selection_set is not None
        if not actual:
            size = self._size(node, definition) or 0
            return CONNECTION_COST + size * (1 + self._item(node.selection_set, type_, None, None))
        edges = value.get("edges") if isinstance(value, Mapping) else None
        nodes = value.get("nodes") if isinstance(value, Mapping) else None
        total = CONNECTION_COST
        for index in range(max(len(edges or []), len(nodes or []))):
            edge = edges[index] if edges and index < len(edges) else None
            item = nodes[index] if nodes and index < len(nodes) else None
            total += 1 + self._item(node.selection_set, type_, edge, item)
        return total

    def _item(
        self, selection_set: SelectionSetNode, type_: GraphQLObjectType, edge: Any, item: Any
    ) -> int:
        """The cost of what one connection item selects, through `edges.node` or `nodes`."""
        actual = edge is not None or item is not None
        best = 0
        for field_node, definition in self._fields(selection_set, type_):
            if field_node.selection_set is None:
                continue
            if field_node.name.value == "nodes":
                inner, _ = _named(definition.type)
                inside = item if actual else None
                best = max(best, self._selection(field_node.selection_set, inner, inside))
            elif field_node.name.value == "edges":
                edge_type, _ = _named(definition.type)
                assert isinstance(edge_type, GraphQLObjectType)
                for sub, sub_definition in self._fields(field_node.selection_set, edge_type):
                    if sub.name.value == "node" and sub.selection_set is not None:
                        inner, _ = _named(sub_definition.type)
                        key = sub.alias.value if sub.alias else "node"
                        value = edge.get(key) if isinstance(edge, Mapping) else None
                        inside = value if actual else None
                        best = max(best, self._selection(sub.selection_set, inner, inside))
        return best

    def _size(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """`first` or `last` as given (a literal, or a variable of the request)."""
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return None


@dataclass(slots=True)
class Bucket:
    """Shopify's leaky bucket for one app on one shop: `maximum` points, refilled at
    `restore_rate` points a second."""

    maximum: float = STANDARD_MAXIMUM
    restore_rate: float = STANDARD_RESTORE_RATE
    clock: Callable[[], float] = time.monotonic
    available: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self.available = self.maximum
        self._at = self.clock()

    def refill(self) -> float:
        now = self.clock()
        self.available = min(self.maximum, self.available + (now - self._at) * self.restore_rate)
        self._at = now
        return self.available

    def take(self, points: float) -> bool:
        """Spend `points` if the bucket holds them now; False (nothing spent) if not."""
        if self.refill() < points:
            return False
        self.available -= points
        return True

    def give_back(self, points: float) -> None:
        self.refill()
        self.available = min(self.maximum, self.available + max(points, 0.0))

    def status(self) -> dict[str, float]:
        """`throttleStatus` as Shopify reports it."""
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": float(int(self.refill())),
            "restoreRate": float(self.restore_rate),
        }
