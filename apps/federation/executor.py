"""The execution context every DictaMesh schema runs in: graphql-sync-dataloaders' deferred
execution (loader futures resolved in batches at the end of each level), with a span per
operation and per root field, and with graphql-core's per-field work done once per
document position instead of once per object.

A 100-customer nested query resolves ~6,000 fields, and graphql-core repeats for each one
what only depends on where the field is in the document: the field's definition, its
argument values (the variables are fixed for the execution), which branch of
``complete_value`` its type takes. :class:`ExecutionContext` keeps those per (parent type,
field nodes) in a :class:`_FieldPlan` for the execution. A field with graphene's default
resolver, no arguments and a scalar or enum type (``Money.amount``, ``InvoiceItem.line``,
``id`` on a reference) is read and serialized in place, without a resolve info or resolver
call: that resolver ignores both. Everything else - every error, null check and error path
- behaves as graphql-core's own execution does (tests/federation cover it over HTTP).
"""

from __future__ import annotations

import functools
from typing import Any

from graphene.types.resolver import dict_or_attr_resolver
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    located_error,
)
from graphql.execution.execute import get_field_def
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, inspect, is_iterable
from graphql_sync_dataloaders import DeferredExecutionContext, SyncFuture
from opentelemetry import trace

from dictamesh.frame_room import call_with_frame_room

tracer = trace.get_tracer(__name__)

# What complete_value does with a value of a type (graphql-core tests these in this order).
_NON_NULL, _LIST, _LEAF, _ABSTRACT, _OBJECT = range(5)


def _kind_of(return_type: GraphQLOutputType) -> int:
    if is_non_null_type(return_type):
        return _NON_NULL
    if is_list_type(return_type):
        return _LIST
    if is_leaf_type(return_type):
        return _LEAF
    if is_abstract_type(return_type):
        return _ABSTRACT
    return _OBJECT


class _FieldPlan:
    """What executing one field at one position of the document needs beyond its source
    value and path. ``args`` is None when the field takes arguments (coerced per call, as
    graphql-core does); ``attname`` is set for a plain read (see the module's docstring).
    All of it depends on the first of the field's nodes only, as in graphql-core."""

    __slots__ = ("field_def", "return_type", "resolve", "args", "attname", "default",
                 "leaf", "non_null")

    def __init__(self, context: ExecutionContext, field_def: GraphQLField,
                 field_nodes: list[FieldNode]) -> None:
        self.field_def = field_def
        self.return_type = field_def.type
        self.resolve = field_def.resolve or context.field_resolver
        if context.middleware_manager:
            self.resolve = context.middleware_manager.get_field_resolver(self.resolve)
        # Arguments are coerced anew for each call when there are any: a resolver may
        # change the values it was given.
        self.args: dict[str, Any] | None = \
            {} if not field_def.args and not field_nodes[0].arguments else None
        self.non_null = is_non_null_type(self.return_type)
        named: Any = self.return_type.of_type if self.non_null else self.return_type  # type: ignore[union-attr]
        self.leaf: GraphQLLeafType | None = named if is_leaf_type(named) else None
        self.attname: str | None = None
        self.default: Any = None
        resolve = self.resolve
        if self.leaf is not None and self.args is not None and \
                isinstance(resolve, functools.partial) and \
                resolve.func is dict_or_attr_resolver and len(resolve.args) == 2 \
                and not resolve.keywords and context.middleware_manager is None:
            self.attname, self.default = resolve.args


#: a selected field: its response name, its nodes and its plan (None: no such field)
_Selected = tuple[str, list[FieldNode], _FieldPlan | None]


class ExecutionContext(DeferredExecutionContext):
    """graphql-sync-dataloaders' execution context with per-position field plans, fixed for
    graphql-core >= 3.2.4, whose `handle_field_error` needs the field's path: the library
    calls it without one, which turned any error inside a list or a deferred field into a
    500."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], _FieldPlan | None] = {}
        self._kinds: dict[GraphQLOutputType, int] = {}
        #: per selection (graphql-core's cached subfields dict, by id, kept alive here):
        #: its fields with their plans, in order
        self._selections: dict[int, tuple[dict[str, list[FieldNode]], list[_Selected]]] = {}

    def execute_operation(self, operation: OperationDefinitionNode, root_value: Any) -> Any:
        """The whole execution, deferred loader batches included, in one span."""
        kind = operation.operation.value
        name = operation.name.value if operation.name else ""
        with tracer.start_as_current_span(
                f"graphql {kind} {name}".rstrip(),
                attributes={"graphql.operation.type": kind, "graphql.operation.name": name}):
            # Its recursion in a data-stack chunk of its own: at some call depths it would
            # otherwise map and unmap a chunk once per object (dictamesh.frame_room).
            return call_with_frame_room(super().execute_operation, operation, root_value)

    def execute_fields_serially(self, parent_type: GraphQLObjectType, source_value: Any,
                                path: Path | None, fields: dict[str, list[FieldNode]]) -> Any:
        """A span per root field's resolver (nested fields would cost a span each of the
        thousands a nested query resolves; their source work is in the loader spans).

        Only the root level's fields go through :meth:`_root_field`, which adds the span
        around :meth:`execute_field`."""
        if path is not None:
            return self._object_fields(parent_type, source_value, path, fields)
        self.execute_field = self._root_field  # type: ignore[method-assign]
        try:
            return self._object_fields(parent_type, source_value, path, fields)
        finally:
            del self.execute_field

    execute_fields = execute_fields_serially

    def _root_field(self, parent_type: GraphQLObjectType, source: Any,
                    field_nodes: list[FieldNode], path: Path) -> Any:
        del self.execute_field  # the fields below this one run without a span
        try:
            with tracer.start_as_current_span(
                    f"graphql resolve {parent_type.name}.{field_nodes[0].name.value}",
                    attributes={"graphql.field.path": str(path.key)}):
                return self.execute_field(parent_type, source, field_nodes, path)
        finally:
            self.execute_field = self._root_field  # type: ignore[method-assign]

    def _object_fields(self, parent_type: GraphQLObjectType, source: Any, path: Path | None,
                       fields: dict[str, list[FieldNode]]) -> Any:
        """One object's fields: plain reads in place (no path unless one fails), the rest
        through :meth:`execute_field`; fields still waiting on a loader make the object one
        future, settled when the last of them is (the library's way)."""
        selection = self._selections.get(id(fields))
        if selection is None or selection[0] is not fields:
            selection = self._selections[id(fields)] = (fields, [
                (name, nodes, self._plan(parent_type, nodes)) for name, nodes in fields.items()])
        results: dict[str, Any] = {}
        waiting: list[tuple[str, SyncFuture]] = []
        for response_name, field_nodes, plan in selection[1]:
            if plan is None:  # no such field: graphql-core leaves it out
                continue
            if plan.attname is not None:
                try:
                    results[response_name] = self._read_leaf(plan, source, parent_type,
                                                             field_nodes)
                except Exception as raw_error:  # noqa: BLE001 - a field error
                    self._field_failed(raw_error, plan.return_type, field_nodes,
                                       Path(path, response_name, parent_type.name))
                    results[response_name] = None
                continue
            result = self.execute_field(parent_type, source, field_nodes,
                                        Path(path, response_name, parent_type.name))
            if isinstance(result, SyncFuture):
                if not result.done():
                    results[response_name] = None  # its place, so that the order is kept
                    waiting.append((response_name, result))
                    continue
                result = result.result()
            if result is not Undefined:
                results[response_name] = result
        if not waiting:
            return results
        return self._object_future(results, waiting)

    @staticmethod
    def _object_future(results: dict[str, Any],
                       waiting: list[tuple[str, SyncFuture]]) -> SyncFuture:
        """The object once its waiting fields are done; a non-null field's error fails it
        (its own field then handles the error, as graphql-core does)."""
        future = SyncFuture()
        remaining = [len(waiting)]

        def one_done(response_name: str, result: SyncFuture) -> None:
            if future.done():  # an earlier field failed the object
                return
            try:
                value = result.result()
            except Exception as exc:  # noqa: BLE001 - the object's field's error
                future.set_exception(exc)
                return
            if value is Undefined:
                del results[response_name]
            else:
                results[response_name] = value
            remaining[0] -= 1
            if not remaining[0]:
                future.set_result(results)

        for response_name, result in waiting:
            result.add_done_callback(functools.partial(one_done, response_name, result))
        return future

    def _plan(self, parent_type: GraphQLObjectType,
              field_nodes: list[FieldNode]) -> _FieldPlan | None:
        # Keyed like graphql-core's subfield cache: by the node's id, which the document
        # (alive for the whole execution) keeps unique.
        key = (parent_type, id(field_nodes[0]))
        try:
            return self._plans[key]
        except KeyError:
            field_def = get_field_def(self.schema, parent_type, field_nodes[0])
            plan = self._plans[key] = \
                _FieldPlan(self, field_def, field_nodes) if field_def else None
            return plan

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_nodes: list[FieldNode], path: Path) -> Any:
        plan = self._plan(parent_type, field_nodes)
        if plan is None:
            return Undefined
        return_type = plan.return_type
        if plan.attname is not None:
            try:
                return self._read_leaf(plan, source, parent_type, field_nodes)
            except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core's
                self._field_failed(raw_error, return_type, field_nodes, path)
                return None
        info = GraphQLResolveInfo(
            field_nodes[0].name.value, field_nodes, return_type, parent_type, path,
            self.schema, self.fragments, self.root_value, self.operation,
            self.variable_values, self.context_value, self.is_awaitable)
        try:
            args = plan.args if plan.args is not None else \
                get_argument_values(plan.field_def, field_nodes[0], self.variable_values)
            result = plan.resolve(source, info, **args)
            if isinstance(result, SyncFuture):
                return self._deferred(result, return_type, field_nodes, path, info)
            return self._now_or_later(
                self.complete_value(return_type, field_nodes, info, path, result),
                return_type, field_nodes, path)
        except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core's
            self._field_failed(raw_error, return_type, field_nodes, path)
            return None

    @staticmethod
    def _read_leaf(plan: _FieldPlan, source: Any, parent_type: GraphQLObjectType,
                   field_nodes: list[FieldNode]) -> Any:
        """graphene's default resolver and complete_value for a scalar, in one step."""
        value = source.get(plan.attname, plan.default) if isinstance(source, dict) else \
            getattr(source, plan.attname, plan.default)  # type: ignore[arg-type]
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            if plan.non_null:
                raise TypeError("Cannot return null for non-nullable field"
                                f" {parent_type.name}.{field_nodes[0].name.value}.")
            return None
        leaf = plan.leaf
        serialized = leaf.serialize(value)  # type: ignore[union-attr]
        if serialized is Undefined or serialized is None:
            raise TypeError(
                f"Expected `{inspect(leaf)}.serialize({inspect(value)})`"
                f" to return non-nullable value, returned: {inspect(serialized)}")
        return serialized

    def _field_failed(self, raw_error: Exception, return_type: GraphQLOutputType,
                      field_nodes: list[FieldNode], path: Path) -> None:
        error = located_error(raw_error, field_nodes, path.as_list())
        self.handle_field_error(error, return_type, path)

    def _deferred(self, result: SyncFuture, return_type: GraphQLOutputType,
                  field_nodes: list[FieldNode], path: Path, info: GraphQLResolveInfo) -> Any:
        """A resolver's (or a list item's) future, completed once its batch has run."""
        if result.done():
            return self._now_or_later(
                self.complete_value(return_type, field_nodes, info, path, result.result()),
                return_type, field_nodes, path)
        if result.deferred_callback:
            self._deferred_callbacks.append(result.deferred_callback)
        future = SyncFuture()

        def resolved() -> None:
            try:
                completed = self.complete_value(return_type, field_nodes, info, path,
                                                result.result())
            except Exception as raw_error:  # noqa: BLE001 - a field error
                self._fail_into(future, raw_error, return_type, field_nodes, path)
                return
            if not isinstance(completed, SyncFuture):
                future.set_result(completed)
            else:
                completed.add_done_callback(
                    lambda: self._settle(future, completed, return_type, field_nodes, path))

        result.add_done_callback(resolved)
        return future

    def _now_or_later(self, completed: Any, return_type: GraphQLOutputType,
                      field_nodes: list[FieldNode], path: Path) -> Any:
        """A completed value, or a future of it whose errors are located at ``path``."""
        if not isinstance(completed, SyncFuture):
            return completed
        if completed.done():
            return completed.result()
        future = SyncFuture()
        completed.add_done_callback(
            lambda: self._settle(future, completed, return_type, field_nodes, path))
        return future

    def _settle(self, future: SyncFuture, completed: SyncFuture,
                return_type: GraphQLOutputType, field_nodes: list[FieldNode],
                path: Path) -> None:
        try:
            value = completed.result()
        except Exception as raw_error:  # noqa: BLE001 - a field error
            self._fail_into(future, raw_error, return_type, field_nodes, path)
            return
        future.set_result(value)

    def _fail_into(self, future: SyncFuture, raw_error: Exception,
                   return_type: GraphQLOutputType, field_nodes: list[FieldNode],
                   path: Path) -> None:
        """A deferred field's error: null with an error entry, or - for a non-null field -
        the error handed on to its parent's future, as graphql-core raises it to the
        parent when nothing is deferred."""
        try:
            self._field_failed(raw_error, return_type, field_nodes, path)
        except Exception as error:  # noqa: BLE001 - the parent's to handle
            future.set_exception(error)
            return
        future.set_result(None)

    def complete_value(self, return_type: GraphQLOutputType, field_nodes: list[FieldNode],
                       info: GraphQLResolveInfo, path: Path, result: Any) -> Any:
        """graphql-core's complete_value, its type tests done once per type."""
        if isinstance(result, Exception):
            raise result
        kind = self._kinds.get(return_type)
        if kind is None:
            kind = self._kinds[return_type] = _kind_of(return_type)
        of_kind: Any = return_type  # the type that kind says it is
        if kind == _NON_NULL:
            completed = self.complete_value(of_kind.of_type, field_nodes, info, path, result)
            if completed is None:
                raise TypeError("Cannot return null for non-nullable field"
                                f" {info.parent_type.name}.{info.field_name}.")
            return completed
        if result is None or result is Undefined:
            return None
        if kind == _OBJECT:
            return self.complete_object_value(of_kind, field_nodes, info, path, result)
        if kind == _LEAF:
            return self.complete_leaf_value(of_kind, result)
        if kind == _LIST:
            return self.complete_list_value(of_kind, field_nodes, info, path, result)
        return self.complete_abstract_value(of_kind, field_nodes, info, path, result)

    def complete_list_value(self, return_type: GraphQLList[GraphQLOutputType],
                            field_nodes: list[FieldNode], info: GraphQLResolveInfo,
                            path: Path, result: Any) -> Any:
        """Each item completed in turn; items still waiting on a loader make the list one
        future, settled when the last of them is."""
        if not isinstance(result, list | tuple):
            if isinstance(result, SyncFuture) or not is_iterable(result):
                # the library's handling, and graphql-core's error for a non-list
                return super().complete_list_value(return_type, field_nodes, info, path,
                                                   result)
            result = list(result)
        item_type = return_type.of_type
        completed: list[Any] = []
        append = completed.append
        pending = False
        for index, item in enumerate(result):
            item_path = path.add_key(index, None)
            try:
                if isinstance(item, SyncFuture):
                    value = self._deferred(item, item_type, field_nodes, item_path, info)
                else:
                    value = self.complete_value(item_type, field_nodes, info, item_path, item)
            except Exception as raw_error:  # noqa: BLE001 - an item error
                self._field_failed(raw_error, item_type, field_nodes, item_path)
                value = None
            if isinstance(value, SyncFuture):
                pending = True
            append(value)
        if not pending:
            return completed
        return self._gather_items(completed, item_type, field_nodes, path)

    def _gather_items(self, completed: list[Any], item_type: GraphQLOutputType,
                      field_nodes: list[FieldNode], path: Path) -> Any:
        """Items whose completion is still deferred, as one future for the list. An error
        a non-null item raises fails the list's future: the list field handles it."""
        waiting = []
        for index, value in enumerate(completed):
            if not isinstance(value, SyncFuture):
                continue
            if value.done():
                completed[index] = self._item_result(value, item_type, field_nodes,
                                                     path.add_key(index, None))
                continue
            waiting.append(index)
        if not waiting:
            return completed
        future = SyncFuture()
        remaining = [len(waiting)]

        def one_done(index: int) -> None:
            if future.done():  # an earlier item failed the list
                return
            try:
                completed[index] = self._item_result(completed[index], item_type,
                                                     field_nodes, path.add_key(index, None))
            except Exception as exc:  # noqa: BLE001 - the list field's error
                future.set_exception(exc)
                return
            remaining[0] -= 1
            if not remaining[0]:
                future.set_result(completed)

        for index in waiting:
            completed[index].add_done_callback(functools.partial(one_done, index))
        return future

    def _item_result(self, value: SyncFuture, item_type: GraphQLOutputType,
                     field_nodes: list[FieldNode], item_path: Path) -> Any:
        try:
            return value.result()
        except Exception as raw_error:  # noqa: BLE001 - an item error
            self._field_failed(raw_error, item_type, field_nodes, item_path)
            return None

    def handle_field_error(self, error: GraphQLError, return_type: GraphQLOutputType,
                           path: Path | None = None) -> None:
        if path is None:
            for key in error.path or ():
                path = Path(path, key, None)
        super().handle_field_error(error, return_type, path)

