"""The CreateInvoice saga: reserve stock (products) -> create the invoice (e-commerce) ->
charge it (e-commerce payments). Compensations: release the reservation, cancel the invoice,
refund the charge.

Every write carries the step's idempotency key, so a re-run after a timeout, a dropped
answer or a worker crash is applied once by the source.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings

from apps.adapters import services as adapters
from apps.adapters.base import InvoicePayments, StockReservations
from apps.sagas.contracts import InvalidSagaInput, SourceUnavailableForSaga
from apps.sagas.definitions import RetryPolicy, SagaDefinition, Step, StepContext, register

CREATE_INVOICE = "create_invoice"


def _timeout() -> float:
    """Each source call is bounded by the step's timeout, so a hung call ends with its step
    instead of holding a thread."""
    return float(settings.SAGA_STEP_TIMEOUT_SECONDS)


def _stock() -> StockReservations:
    return adapters.commands_for("product", StockReservations)


def _invoices() -> InvoicePayments:
    return adapters.commands_for("invoice", InvoicePayments)


# -- validation -------------------------------------------------------------------------------

def validate(saga_input: dict[str, Any]) -> dict[str, Any]:
    """{"customer_id", "items": [{"product_id", "quantity"}]}, checked against the sources
    (customers and products read through their data products) and normalised."""
    if not isinstance(saga_input, dict):
        raise InvalidSagaInput("The input is an object with customer_id and items.",
                               "BAD_INPUT")
    customer_id = str(saga_input.get("customer_id") or "").strip()
    items = _items(saga_input.get("items"))
    if not customer_id:
        raise InvalidSagaInput("customer_id is required.", "UNKNOWN_CUSTOMER")
    if _missing("customer", [customer_id]):
        raise InvalidSagaInput(f"No customer {customer_id!r}.", "UNKNOWN_CUSTOMER")
    unknown = _missing("product", sorted({item["product_id"] for item in items}))
    if unknown:
        raise InvalidSagaInput(f"No product {', '.join(unknown)}.", "UNKNOWN_PRODUCT")
    return {"customer_id": customer_id, "items": items}


def _missing(entity_type: str, ids: list[str]) -> list[str]:
    """The ids the source says do not exist; SourceUnavailableForSaga when it cannot say
    (down with no cached copy, or records that do not map): that is no proof of absence."""
    lookup = adapters.data_product_for(entity_type).get_entities(entity_type, ids)
    unsure = sorted(lookup.unavailable.keys() | lookup.malformed.keys())
    if unsure:
        raise SourceUnavailableForSaga(
            f"Cannot check {entity_type} {', '.join(unsure)} now: its source is unavailable "
            "or answers records that do not map. Nothing was started; try again later.")
    return [entity_id for entity_id in ids if entity_id not in lookup.found]


def _items(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidSagaInput("items must list at least one {product_id, quantity}.",
                               "EMPTY_ITEMS")
    limit = settings.SAGA_INVOICE_MAX_LINES
    if len(raw) > limit:
        raise InvalidSagaInput(f"{len(raw)} lines; an invoice has at most {limit}.",
                               "TOO_MANY_LINES")
    items = []
    for position, item in enumerate(raw):
        product_id = str(item.get("product_id") or "").strip() if isinstance(item, dict) else ""
        if not product_id:
            raise InvalidSagaInput(f"items[{position}] has no product_id.", "UNKNOWN_PRODUCT")
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidSagaInput(f"items[{position}].quantity is {quantity!r}; it must be "
                                   "a whole number of at least 1.", "BAD_QUANTITY")
        items.append({"product_id": product_id, "quantity": quantity})
    return items


# -- steps: each write through the sources' command door, with the step's idempotency key

def reserve_stock(context: StepContext) -> dict[str, Any]:
    units: dict[str, int] = {}
    for item in context.input["items"]:
        units[item["product_id"]] = units.get(item["product_id"], 0) + item["quantity"]
    reservation = _stock().reserve_stock(units, context.idempotency_key, timeout=_timeout())
    return {"reservation_id": reservation}


def release_reservation(context: StepContext) -> None:
    _stock().release_reservation(context.outputs["reserve_stock"]["reservation_id"],
                                 timeout=_timeout())


def create_invoice(context: StepContext) -> dict[str, Any]:
    lines = [{"sku": item["product_id"], "quantity": item["quantity"]}
             for item in context.input["items"]]
    invoice = _invoices().create_invoice(context.input["customer_id"], lines,
                                         context.idempotency_key, timeout=_timeout())
    return {"invoice_id": invoice.id, "total": invoice.attributes.get("total"),
            "currency": invoice.attributes.get("currency")}


def cancel_invoice(context: StepContext) -> None:
    _invoices().cancel_invoice(context.outputs["create_invoice"]["invoice_id"],
                               timeout=_timeout())


def charge_invoice(context: StepContext) -> dict[str, Any]:
    charge = _invoices().charge_invoice(context.outputs["create_invoice"]["invoice_id"],
                                        context.idempotency_key, timeout=_timeout())
    return {"payment_id": charge.payment_id}


def refund_charge(context: StepContext) -> dict[str, Any]:
    refund = _invoices().refund_charge(context.outputs["create_invoice"]["invoice_id"],
                                       context.idempotency_key, timeout=_timeout())
    return {"refund_id": refund.refund_id}


def definition() -> SagaDefinition:
    # Each source call is bounded by SAGA_STEP_TIMEOUT_SECONDS; an attempt makes at most
    # two (a compensation of an unsure action replays it first), plus a little headroom.
    timeout = 2 * settings.SAGA_STEP_TIMEOUT_SECONDS + 1.0
    retry = RetryPolicy(max_attempts=settings.SAGA_STEP_MAX_ATTEMPTS,
                        initial_backoff_s=settings.SAGA_RETRY_INITIAL_BACKOFF_SECONDS,
                        max_backoff_s=settings.SAGA_RETRY_MAX_BACKOFF_SECONDS,
                        is_retryable=adapters.is_retryable)
    undo = replace(retry, max_attempts=settings.SAGA_COMPENSATION_MAX_ATTEMPTS)
    return SagaDefinition(CREATE_INVOICE, 1, (
        Step("reserve_stock", reserve_stock, release_reservation, retry, undo, timeout),
        Step("create_invoice", create_invoice, cancel_invoice, retry, undo, timeout),
        # The refund runs only when the charge's outcome is unknown (no answer): once the
        # charge succeeds, the saga has completed.
        Step("charge_invoice", charge_invoice, refund_charge, retry, undo, timeout),
    ), validate=validate)


def register_create_invoice(*, replace: bool = False) -> SagaDefinition:
    """Register CreateInvoice as the settings shape it (again with ``replace``)."""
    return register(definition(), replace=replace)
