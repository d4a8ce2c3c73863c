"""The sagas domain: business transactions that act across sources (Layer 7).

`createInvoice` starts a CreateInvoice saga (reserve stock -> create the invoice -> charge
it); `saga(id)` and `sagas(...)` follow it. Everything goes through `apps.sagas.services`:
the input is validated there, before any saga is stored, and its refusals become GraphQL
errors whose `extensions.code` names the problem.

Sagas change state in the workers, with no change event the response cache could listen
to, so answers that read a saga are never cached (see ``LIVE_TYPES``).
"""

from __future__ import annotations

from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import fields
from typing import Any

import graphene
from graphene.types.generic import GenericScalar
from graphql import GraphQLError, GraphQLResolveInfo

from apps.federation.loaders import INVALID_ARGUMENT, SOURCE_UNAVAILABLE
from apps.federation.schema.graphs import graph_type
from apps.sagas import services
from apps.sagas.contracts import (
    IdempotencyConflict,
    InvalidSagaInput,
    SagaError,
    SagaNotFound,
    SagaState,
    SagaView,
    SourceUnavailableForSaga,
    StepOutcome,
    StepPhase,
)

#: the largest `first` of `sagas(...)`
MAX_PAGE_SIZE = 100
#: the longest idempotency key a client may send (room for a UUID or a hash, prefixed)
MAX_IDEMPOTENCY_KEY_LENGTH = 200
_CURSOR_PREFIX = "sagas:"

# `extensions.code` of refusals that are not InvalidSagaInput (which carries its own code)
SAGA_NOT_FOUND = "SAGA_NOT_FOUND"
IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
SAGA_ERROR = "SAGA_ERROR"

#: GraphQL types whose answers must not be served from the response cache
LIVE_TYPES = frozenset({"Saga", "SagaStep", "SagaPage"})

SagaStateEnum = graphene.Enum.from_enum(SagaState, description="Where a saga stands.")
StepPhaseEnum = graphene.Enum.from_enum(StepPhase, description="A step's action, or the "
                                        "compensation that undoes it.")
StepOutcomeEnum = graphene.Enum.from_enum(StepOutcome, description="How one attempt ended.")


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _refusal(exc: SagaError) -> GraphQLError:
    """The GraphQL error for a refusal of the sagas service (its message says what to do)."""
    if isinstance(exc, InvalidSagaInput):
        return _error(str(exc), exc.code)
    if isinstance(exc, IdempotencyConflict):
        return _error(str(exc), IDEMPOTENCY_CONFLICT)
    if isinstance(exc, SagaNotFound):
        return _error(str(exc), SAGA_NOT_FOUND)
    if isinstance(exc, SourceUnavailableForSaga):
        return _error(str(exc), SOURCE_UNAVAILABLE)
    return _error(str(exc), SAGA_ERROR)


class SagaStep(graphene.ObjectType):
    """One attempt of one step, from the saga's append-only step log."""

    step = graphene.String(required=True)
    phase = graphene.Field(StepPhaseEnum, required=True)
    attempt = graphene.Int(required=True)
    started_at = graphene.DateTime(required=True)
    ended_at = graphene.DateTime(required=True)
    outcome = graphene.Field(StepOutcomeEnum, required=True)
    error = graphene.String(required=True, description="Empty when the attempt succeeded.")


def resolve_timeline(saga: SagaView, info: GraphQLResolveInfo) -> tuple[Any, ...]:
    # Pages are read without step logs; a saga listed in a page has its own read here.
    # (A saga with no attempt yet is read again for nothing, which is cheap.)
    return saga.timeline or services.get_saga(saga.id, with_timeline=True).timeline


class SagaFields:
    """A business transaction across sources, and where it stands."""

    id = graphene.ID(required=True)
    definition = graphene.String(required=True, description='e.g. "create_invoice".')
    version = graphene.Int(required=True,
                           description="The definition's version the saga runs on.")
    state = graphene.Field(SagaStateEnum, required=True)
    current_step = graphene.String(description="The step running or next to run.")
    attempt = graphene.Int(required=True, description="Attempt of the current step.")
    input = GenericScalar(required=True, description="What the saga was started with.")
    outputs = GenericScalar(required=True,
                            description="What each completed step returned, by step.")
    error = graphene.String(required=True, description="Why it failed or needs attention.")
    idempotency_key = graphene.String()
    trace_id = graphene.String()
    created_at = graphene.DateTime(required=True)
    updated_at = graphene.DateTime(required=True)
    deadline = graphene.DateTime(description="When the running step is given up on.")
    timeline = graphene.List(graphene.NonNull(SagaStep), required=True,
                             resolver=resolve_timeline,
                             description="Every step attempt, oldest first.")

    def _resolve_reference(self, info: GraphQLResolveInfo) -> Any:
        try:
            saga = services.get_saga(str(self.id))
        except SagaNotFound:
            return None
        # An instance of this graph's Saga type, so that `_Entity` knows which member it is.
        return type(self)(**{f.name: getattr(saga, f.name) for f in fields(saga)})


class SagaPageFields:
    nodes = graphene.List(graphene.NonNull(graph_type("Saga")), required=True)
    page_info = graphene.Field(graph_type("PageInfo"), required=True)


def resolve_saga(root: Any, info: GraphQLResolveInfo, id: str) -> SagaView:  # noqa: A002
    try:
        return services.get_saga(id)
    except SagaError as exc:
        raise _refusal(exc) from exc


def _service_cursor(after: str | None) -> str | None:
    if not after:
        return None
    try:
        text = urlsafe_b64decode(after.encode()).decode()
    except ValueError:
        text = ""
    if not text.startswith(_CURSOR_PREFIX):
        raise _error("`after` is not a sagas cursor: pass the previous page's "
                     "pageInfo.endCursor.", INVALID_ARGUMENT)
    return text.removeprefix(_CURSOR_PREFIX)


def _cursor(service_cursor: str | None) -> str | None:
    if service_cursor is None:
        return None
    return urlsafe_b64encode(f"{_CURSOR_PREFIX}{service_cursor}".encode()).decode()


def resolve_sagas(root: Any, info: GraphQLResolveInfo, first: int = 50,
                  after: str | None = None, state: Any = None,
                  definition: str | None = None) -> dict[str, Any]:
    """Newest first."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise _error(f"`first` must be between 1 and {MAX_PAGE_SIZE}.", INVALID_ARGUMENT)
    state_value = SagaState(getattr(state, "value", state)) if state is not None else None
    try:
        page = services.list_sagas(state=state_value, definition=definition, first=first,
                                   after=_service_cursor(after))
    except SagaError as exc:
        raise _refusal(exc) from exc
    return {"nodes": page.sagas,
            "page_info": {"end_cursor": _cursor(page.next_cursor) or after,
                          "has_next_page": page.next_cursor is not None}}


class SagaQueries:
    saga = graphene.Field(graph_type("Saga"), id=graphene.ID(required=True),
                          resolver=resolve_saga,
                          description="A saga with its step timeline; an error "
                                      f"{SAGA_NOT_FOUND} if the tenant has none by that id.")
    sagas = graphene.Field(
        graph_type("SagaPage"), required=True, resolver=resolve_sagas,
        state=SagaStateEnum(), definition=graphene.String(),
        first=graphene.Int(default_value=50, description=f"1 to {MAX_PAGE_SIZE}."),
        after=graphene.String(description="The previous page's pageInfo.endCursor."),
        description="Sagas, newest first, optionally of one state or definition.")


class InvoiceLineInput(graphene.InputObjectType):
    product_id = graphene.ID(required=True, description="The product's id (its SKU).")
    quantity = graphene.Int(required=True, description="At least 1.")


class CreateInvoiceInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    items = graphene.List(graphene.NonNull(InvoiceLineInput), required=True)
    idempotency_key = graphene.String(
        description="A key of the client's choosing: sending the same key again returns "
                    "the saga it started instead of starting another.")


def _create_invoice_input(data: dict[str, Any]) -> dict[str, Any]:
    """The mutation's input in the service's terms (the names of the saga definition's
    input: snake_case, as everywhere in the platform)."""
    return {"customer_id": str(data["customer_id"]),
            "items": [{"product_id": str(line["product_id"]), "quantity": line["quantity"]}
                      for line in data["items"]]}


def _idempotency_key(data: dict[str, Any]) -> str | None:
    key = data.get("idempotency_key")
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise _error("`idempotencyKey` must be a non-blank string of at most "
                     f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters (e.g. a UUID).",
                     INVALID_ARGUMENT)
    return key


def resolve_create_invoice(root: Any, info: GraphQLResolveInfo,
                           input: dict[str, Any]) -> SagaView:  # noqa: A002
    key = _idempotency_key(input)
    try:
        return services.start_saga(services.CREATE_INVOICE, _create_invoice_input(input),
                                   idempotency_key=key)
    except SagaError as exc:
        raise _refusal(exc) from exc


class SagaMutations:
    create_invoice = graphene.Field(
        graph_type("Saga"), resolver=resolve_create_invoice,
        input=CreateInvoiceInput(required=True),
        description="Start a CreateInvoice saga: reserve the stock, create the invoice, "
                    "charge it; undone in reverse order if a step fails. Returns at once "
                    "with the saga (PENDING); follow it with `saga(id)`. Needs a key with "
                    "the write scope. Null, with an error whose `extensions.code` names "
                    "the problem, when the input cannot start a saga.")
