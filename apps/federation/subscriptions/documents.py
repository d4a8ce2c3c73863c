"""A `subscribe` message's document, checked as a query's would be, and what it follows.

Refusals come back as GraphQL errors with an `extensions.code` (sent to the client as the
protocol's `error` message for that subscription; the socket stays open), in the HTTP
view's order: scope, persisted documents, parse limits, depth/cost/alias limits and
validation, then what only subscriptions need (one subscription operation; arguments
within bounds).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    get_operation_ast,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values, get_variable_values

from apps.federation import persisted
from apps.federation.auth import AuthError, Principal, require_scope
from apps.federation.limits import QueryLimits, parse_limited, validate_limits
from apps.federation.loaders import INVALID_ARGUMENT
from apps.federation.schema import tenant_schema
from apps.federation.subscriptions import messages
from apps.federation.subscriptions.schema import GRAPHQL_TYPE_OF_ENTITY, MAX_FIELDS, MAX_IDS
from apps.sagas import services as sagas
from apps.sagas.contracts import SagaNotFound

BAD_REQUEST = "BAD_REQUEST"
NOT_A_SUBSCRIPTION = "NOT_A_SUBSCRIPTION"

Filter = Callable[[dict[str, Any]], bool]


class SubscribeRefused(Exception):
    def __init__(self, *errors: GraphQLError) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class Plan:
    """One accepted subscription: what to execute, for which events."""

    tenant: str
    scope: str
    schema: GraphQLSchema
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any] | None
    group: str
    accepts: Filter
    #: equal for subscriptions whose answers to one event are equal (execution.py)
    fingerprint: str


def _refuse(message: str, code: str) -> SubscribeRefused:
    return SubscribeRefused(GraphQLError(message, extensions={"code": code}))


def _parameters(payload: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    variables = payload.get("variables") or None
    if variables is not None and not isinstance(variables, dict):
        raise _refuse("`variables` must be a JSON object.", BAD_REQUEST)
    operation_name = payload.get("operationName") or None
    if operation_name is not None and not isinstance(operation_name, str):
        raise _refuse("`operationName` must be a string.", BAD_REQUEST)
    return variables, operation_name


def compile_subscription(principal: Principal, payload: dict[str, Any]) -> Plan:
    """The plan for ``payload`` (a `subscribe` message's), or SubscribeRefused. Runs in
    the principal's tenant schema (it reads the tenant's limits, documents and schema)."""
    try:
        require_scope(principal, "read")
    except AuthError as exc:
        raise _refuse(exc.message, exc.code) from None
    variables, operation_name = _parameters(payload)
    limits = QueryLimits.for_tenant(principal.tenant)
    try:
        query = persisted.document_for(payload, limits.registered_documents_only)
    except persisted.PersistedQueryError as exc:
        raise SubscribeRefused(exc.as_graphql_error()) from None
    if not isinstance(query, str):
        raise _refuse("No query given: send the subscription document in `query`.",
                      BAD_REQUEST)
    schema = tenant_schema().graphql_schema
    try:
        document = parse_limited(query, limits)
    except GraphQLError as exc:
        raise SubscribeRefused(exc) from None
    errors = validate_limits(schema, document, limits, variables)
    if errors:
        raise SubscribeRefused(*errors)
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        raise _refuse("Name the operation to run in `operationName`: the document has "
                      "several (or none by that name).", BAD_REQUEST)
    if operation.operation != OperationType.SUBSCRIPTION:
        raise _refuse(f"This is a {operation.operation.value}: send queries and mutations "
                      "to POST /graphql; a socket runs subscriptions.", NOT_A_SUBSCRIPTION)
    coerced = get_variable_values(schema, operation.variable_definitions or (),
                                  variables or {})
    if isinstance(coerced, list):
        raise SubscribeRefused(*coerced)
    subscription_type = schema.subscription_type
    assert subscription_type is not None  # noqa: S101 - the document validated against it
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    fields = collect_fields(schema, fragments, coerced, subscription_type,
                            operation.selection_set)
    [nodes] = fields.values()  # validation allows one root field
    node: FieldNode = nodes[0]
    name = node.name.value
    arguments = get_argument_values(subscription_type.fields[name], node, coerced)
    group, accepts = _route(name, arguments, principal.tenant)
    return Plan(tenant=principal.tenant, scope=",".join(sorted(principal.scopes)),
                schema=schema, document=document, operation_name=operation_name,
                variables=variables, group=group, accepts=accepts,
                fingerprint=_fingerprint(schema, query, operation_name, variables,
                                         principal))


def _fingerprint(schema: GraphQLSchema, query: str, operation_name: str | None,
                 variables: dict[str, Any] | None, principal: Principal) -> str:
    text = json.dumps([principal.tenant, sorted(principal.scopes), id(schema), query,
                       operation_name, variables], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _route(field: str, arguments: dict[str, Any], tenant: str) -> tuple[str, Filter]:
    if field == "entityChanged":
        return _entity_route(arguments, tenant)
    if field == "sagaUpdated":
        saga_id = str(arguments["id"])
        try:
            sagas.get_saga(saga_id)
        except SagaNotFound:
            raise _refuse(f"The tenant has no saga {saga_id!r}.", "SAGA_NOT_FOUND") from None
        return messages.saga_group(tenant), lambda message: message["saga_id"] == saga_id
    if field == "catalogRelationshipAdded":
        end = {"type": str(arguments["type"]), "id": str(arguments["id"])}
        return messages.relationship_group(tenant), \
            lambda message: end in (message["subject"], message["object"])
    raise _refuse(f"No subscription field {field!r}.", BAD_REQUEST)  # schema drift


def _entity_route(arguments: dict[str, Any], tenant: str) -> tuple[str, Filter]:
    entity_type = str(arguments["type"])
    if entity_type not in GRAPHQL_TYPE_OF_ENTITY:
        raise _refuse(f"`type` {entity_type[:60]!r} is no entity type; use one of "
                      f"{', '.join(GRAPHQL_TYPE_OF_ENTITY)}.", INVALID_ARGUMENT)
    ids = arguments.get("ids")
    if ids is not None and not 1 <= len(ids) <= MAX_IDS:
        raise _refuse(f"`ids` names 1 to {MAX_IDS} entities (omit it to follow all).",
                      INVALID_ARGUMENT)
    names = arguments.get("fields")
    if names is not None and not 1 <= len(names) <= MAX_FIELDS:
        raise _refuse(f"`fields` names 1 to {MAX_FIELDS} attributes (omit it for all).",
                      INVALID_ARGUMENT)
    wanted_ids = frozenset(ids) if ids is not None else None
    wanted_fields = frozenset(names) if names is not None else None

    def accepts(message: dict[str, Any]) -> bool:
        if wanted_ids is not None and message["entity_id"] not in wanted_ids:
            return False
        return wanted_fields is None or message["deleted"] or \
            not wanted_fields.isdisjoint(message["changed_fields"])

    return messages.entity_group(tenant, entity_type), accepts
