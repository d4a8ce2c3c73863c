"""The CreateInvoice saga: reserve stock (products) -> create the invoice (e-commerce) ->
charge it (e-commerce payments). Compensations: release the reservation, cancel the invoice.

Every write carries the step's idempotency key, so a re-run after a timeout, a dropped
answer or a worker crash is applied once by the source.
"""

from __future__ import annotations

from typing import Any, Protocol, cast, runtime_checkable

from django.conf import settings

from apps.adapters import services as adapters
from apps.sagas.contracts import InvalidSagaInput, SagaError
from apps.sagas.definitions import RetryPolicy, SagaDefinition, Step, StepContext, register

CREATE_INVOICE = "create_invoice"


@runtime_checkable
class StockCommands(Protocol):
    def reserve_stock(self, items: dict[str, int], idempotency_key: str) -> str: ...

    def release_reservation(self, reservation_id: str) -> None: ...


@runtime_checkable
class InvoiceCommands(Protocol):
    def create_invoice(self, customer_id: str, items: list[dict[str, Any]],
                       idempotency_key: str) -> Any: ...

    def cancel_invoice(self, invoice_id: str) -> Any: ...

    def charge_invoice(self, invoice_id: str, idempotency_key: str) -> Any: ...


def _commands(entity_type: str, protocol: type) -> tuple[adapters.DataProduct, Any]:
    """The data product serving ``entity_type`` and its adapter's write commands; the
    writes go through the product's breaker and metrics, once (never auto-retried: the
    saga's retry policy owns retries)."""
    product = adapters.data_product_for(entity_type)
    if not isinstance(product.adapter, protocol):
        raise SagaError(f"The {entity_type} source {product.name!r} has no "
                        f"{protocol.__name__} (its adapter cannot take these writes).")
    return product, product.adapter


def _stock() -> tuple[adapters.DataProduct, StockCommands]:
    product, commands = _commands("product", StockCommands)
    return product, cast(StockCommands, commands)


def _invoices() -> tuple[adapters.DataProduct, InvoiceCommands]:
    product, commands = _commands("invoice", InvoiceCommands)
    return product, cast(InvoiceCommands, commands)


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
    customers = adapters.data_product_for("customer").get_entities("customer", [customer_id])
    if customer_id not in customers.found:
        raise InvalidSagaInput(f"No customer {customer_id!r}.", "UNKNOWN_CUSTOMER")
    skus = sorted({item["product_id"] for item in items})
    products = adapters.data_product_for("product").get_entities("product", skus)
    unknown = [sku for sku in skus if sku not in products.found]
    if unknown:
        raise InvalidSagaInput(f"No product {', '.join(unknown)}.", "UNKNOWN_PRODUCT")
    return {"customer_id": customer_id, "items": items}


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


# -- steps ------------------------------------------------------------------------------------

def reserve_stock(context: StepContext) -> dict[str, Any]:
    product, stock = _stock()
    units: dict[str, int] = {}
    for item in context.input["items"]:
        units[item["product_id"]] = units.get(item["product_id"], 0) + item["quantity"]
    reservation = product.call("reserve_stock", stock.reserve_stock, units,
                               context.idempotency_key, idempotent=False)
    return {"reservation_id": reservation}


def release_reservation(context: StepContext) -> None:
    product, stock = _stock()
    reservation = context.outputs["reserve_stock"]["reservation_id"]
    product.call("release_reservation", stock.release_reservation, reservation,
                 idempotent=False)


def create_invoice(context: StepContext) -> dict[str, Any]:
    product, invoices = _invoices()
    lines = [{"sku": item["product_id"], "quantity": item["quantity"]}
             for item in context.input["items"]]
    invoice = product.call("create_invoice", invoices.create_invoice,
                           context.input["customer_id"], lines, context.idempotency_key,
                           idempotent=False)
    return {"invoice_id": invoice.id, "total": invoice.attributes.get("total"),
            "currency": invoice.attributes.get("currency")}


def cancel_invoice(context: StepContext) -> None:
    product, invoices = _invoices()
    product.call("cancel_invoice", invoices.cancel_invoice,
                 context.outputs["create_invoice"]["invoice_id"], idempotent=False)


def charge_invoice(context: StepContext) -> dict[str, Any]:
    product, invoices = _invoices()
    charge = product.call("charge_invoice", invoices.charge_invoice,
                          context.outputs["create_invoice"]["invoice_id"],
                          context.idempotency_key, idempotent=False)
    return {"payment_id": charge.payment_id}


def definition() -> SagaDefinition:
    timeout = settings.SAGA_STEP_TIMEOUT_SECONDS
    retry = RetryPolicy(max_attempts=settings.SAGA_STEP_MAX_ATTEMPTS,
                        initial_backoff_s=settings.SAGA_RETRY_INITIAL_BACKOFF_SECONDS,
                        max_backoff_s=settings.SAGA_RETRY_MAX_BACKOFF_SECONDS)
    undo = RetryPolicy(max_attempts=settings.SAGA_COMPENSATION_MAX_ATTEMPTS,
                       initial_backoff_s=settings.SAGA_RETRY_INITIAL_BACKOFF_SECONDS,
                       max_backoff_s=settings.SAGA_RETRY_MAX_BACKOFF_SECONDS)
    return SagaDefinition(CREATE_INVOICE, 1, (
        Step("reserve_stock", reserve_stock, release_reservation, retry, undo, timeout),
        Step("create_invoice", create_invoice, cancel_invoice, retry, undo, timeout),
        # The last step: once it succeeds the saga has completed and nothing is undone.
        Step("charge_invoice", charge_invoice, None, retry, undo, timeout),
    ), validate=validate)


def register_create_invoice(*, replace: bool = False) -> SagaDefinition:
    """Register CreateInvoice as the settings shape it (again with ``replace``)."""
    return register(definition(), replace=replace)
