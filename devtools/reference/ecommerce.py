"""An e-commerce platform's invoice API: cursor pagination, idempotent creates, payments.

Endpoints (`Authorization: Bearer <token>`; errors are `{"error": {"code", "message",
"details"?}}`):

    GET   /api/v1/invoices?limit=&cursor=&updated_since=&customer_id=
                                          {"data": [...], "next_cursor": str | null}
    GET   /api/v1/invoices?customer_ids=1,2,3&limit=&cursor=&updated_since=
                                          the same list, for any of (at most 100) customers;
                                          400 together with customer_id
    GET   /api/v1/invoices?...&status=&created[gt]=&include[]=total_count
                                          filters and a count, as Stripe's "List all
                                          invoices" has them (see below)
    GET   /api/v1/invoices?ids=a,b,c      batch (at most 100), in the order asked, + "missing"
    GET   /api/v1/invoices/{id}           {"data": {...}}, 404 when missing
    POST  /api/v1/invoices                {"customer_id", "items": [{"sku", "quantity",
                                          "unit_price"?}], "currency"?} -> 201 {"data": {...}}
    PATCH /api/v1/invoices/{id}           customer_id and/or items of an open invoice
    POST  /api/v1/invoices/{id}/cancel    open or refunded -> cancelled (again: 200),
                                          paid -> 409 (refund it first)
    POST  /api/v1/invoices/{id}/charge    open -> paid, {"data", "payment"}; 402 card_declined
                                          when the `declined_customers` knob names the
                                          customer; 409 unless open
    POST  /api/v1/invoices/{id}/refund    paid -> refunded, {"data", "refund"}: the whole
                                          payment back; 409 unless paid

An invoice's status follows an order's financial status on common platforms (Shopify's
`paid` -> `refunded`, then the order may be cancelled): a paid invoice cannot be cancelled
while the customer's money is held; it is refunded first, and a refunded invoice can then be
cancelled. Refunds are whole-invoice: a refunded invoice cannot be refunded again (409).

Lists are ordered by (updated_at, id) and the cursor encodes the last pair served, so paging
stays correct while data changes: nothing is skipped, and an invoice updated behind the
cursor comes again at the end. `updated_since` keeps `updated_at >= updated_since`.

Filters follow Stripe's "List all invoices" (https://docs.stripe.com/api/invoices/list):
`status` keeps the invoices in that status (one of ours: open, paid, refunded, cancelled;
another value is 400), `created[gt]` those created strictly after a moment (Stripe's range
form; the value is an ISO-8601 date-time, as every time in this API, where Stripe takes
Unix seconds), and `include[]=total_count` adds `total_count`, the number of invoices
matching the filters across all pages (Stripe's list `total_count`).

POSTs that create something (invoice, charge, refund) honour an `Idempotency-Key` header, as
Stripe's API does: a retry with the same key and body replays the first
success (header `Idempotent-Replayed: true`); the same key with another body is 422. Errors are
not remembered, so a declined charge can be retried. An item without `unit_price` is priced
from the catalog of the same seed. Customer ids are not checked: customers live in Directus.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from devtools.reference import dataset
from devtools.reference.dataset import Record, Sizes, invoice_id
from devtools.reference.faults import as_int_list
from devtools.reference.rest import (
    amount,
    currency,
    error_response,
    invalid_parameter,
    query_choice,
    query_int,
    query_list,
    query_since,
    validation_error,
)
from devtools.reference.server import ApiError, ReferenceServer
from devtools.reference.web import Request, Response, Route, json_response, route

DEFAULT_TOKEN = "ref-ecommerce-token"  # noqa: S105 - the reference server's demo token
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
INVOICE_STATUSES = ("open", "paid", "refunded", "cancelled")

Cursor = tuple[str, str]  # (updated_at, id) of the last invoice served


def _encode_cursor(invoice: Record) -> str:
    raw = json.dumps([invoice["updated_at"], invoice["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> Cursor:
    try:
        updated_at, key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(updated_at, str) and isinstance(key, str):
            return updated_at, key
    except (binascii.Error, ValueError, TypeError):
        pass
    raise invalid_parameter("cursor", "is not a cursor this API issued")


def _invalid_state(invoice: Record, action: str, hint: str = "") -> ApiError:
    return ApiError(HTTPStatus.CONFLICT, "invalid_state",
                    f"Invoice {invoice['id']} is {invoice['status']}; cannot {action} it"
                    + (f": {hint}." if hint else "."),
                    current_status=invoice["status"])


class EcommerceServer(ReferenceServer):
    name = "ecommerce"
    extra_fault_knobs = {"declined_customers": as_int_list}
    effect_kinds = ("invoices", "charges", "refunds")

    invoices: dict[str, Record]
    catalog: dict[str, Record]  # sku -> price {amount, currency}, to price new items
    _idempotency: dict[tuple[str, str, str], tuple[Any, Response]]
    _order: list[Cursor]
    _order_stale: bool

    def __init__(self, *, token: str = DEFAULT_TOKEN, **options: Any) -> None:
        self.token = token
        super().__init__(**options)

    def load(self, seed: int, sizes: Sizes) -> None:
        self.invoices = {i["id"]: i for i in dataset.invoices(seed, sizes)}
        self.catalog = {p["sku"]: p["price"] for p in dataset.products(seed, sizes.products)}
        self._idempotency = {}
        self._last_number = sizes.invoices
        self.payments: dict[str, Record] = {}  # invoice id -> its payment
        self.refunds: dict[str, Record] = {}  # refund id -> the refund
        self._order_stale = True

    def routes(self) -> list[Route]:
        invoice = r"/api/v1/invoices/(?P<key>[^/]+)"
        return [
            route("GET", r"/api/v1/invoices", self._list),
            route("POST", r"/api/v1/invoices", self._create, write="create_invoice"),
            route("GET", invoice, self._read),
            route("PATCH", invoice, self._update),
            route("POST", invoice + "/cancel", self._cancel, write="cancel_invoice"),
            route("POST", invoice + "/charge", self._charge, write="charge_invoice"),
            route("POST", invoice + "/refund", self._refund, write="refund_charge"),
        ]

    def authenticate(self, request: Request) -> None:
        if request.bearer_token() != self.token:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "unauthorized",
                           "Missing or invalid bearer token.")

    def error(self, status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="invoices"'} if status == 401 else None
        return error_response(status, code, message, details, headers)

    # -- reading ---------------------------------------------------------------------------

    def _list(self, request: Request) -> Response:
        if request.param("ids") is not None:
            return self._batch(request)
        limit = query_int(request, "limit", DEFAULT_LIMIT, maximum=MAX_LIMIT)
        since = query_since(request)
        raw_cursor = request.param("cursor")
        cursor = _decode_cursor(raw_cursor) if raw_cursor else None
        keeps = _invoice_filter(request)
        counting = "total_count" in request.query.get("include[]", [])
        total = 0
        with self.lock:
            order = self._ordered()
            if counting:
                total = sum(1 for _, key in order if keeps(self.invoices[key]))
            start = 0 if cursor is None else bisect_right(order, cursor)
            if since is not None:
                start = max(start, bisect_left(order, (since, "")))
            page = []
            for _, key in order[start:]:
                invoice = self.invoices[key]
                if keeps(invoice):
                    page.append(invoice)
                    if len(page) > limit:  # one more than asked: proof of a next page
                        break
        next_cursor = _encode_cursor(page[limit - 1]) if len(page) > limit else None
        body: dict[str, Any] = {"data": [self._shaped(i) for i in page[:limit]],
                                "next_cursor": next_cursor}
        if counting:
            body["total_count"] = total
        return json_response(HTTPStatus.OK, body)

    def _batch(self, request: Request) -> Response:
        ids = query_list(request, "ids")
        with self.lock:
            found = [self.invoices[key] for key in ids if key in self.invoices]
        return json_response(HTTPStatus.OK, {
            "data": [self._shaped(i) for i in found], "next_cursor": None,
            "missing": [key for key in ids if key not in self.invoices]})

    def _read(self, request: Request, key: str) -> Response:
        return json_response(HTTPStatus.OK, {"data": self._shaped(self._find(key))})

    def _ordered(self) -> list[Cursor]:
        """(updated_at, id) of every invoice, sorted; rebuilt only after a change."""
        if self._order_stale:
            self._order = sorted((i["updated_at"], i["id"]) for i in self.invoices.values())
            self._order_stale = False
        return self._order

    # -- writing ---------------------------------------------------------------------------

    def _create(self, request: Request) -> Response:
        return self._idempotent(request, "create",
                                lambda key: self._create_now(request.json(), key))

    def _create_now(self, body: Any, idempotency_key: str | None) -> Response:
        if not isinstance(body, dict) or not body.keys() <= {"customer_id", "items", "currency"}:
            raise validation_error("The body must be {customer_id, items, currency?}.")
        customer_id = _customer_id(body.get("customer_id"))
        items, currency = self._priced_items(body.get("items"), body.get("currency"))
        now = self.clock.now()
        self._last_number += 1
        new_id = invoice_id(self._last_number)
        invoice = {"id": new_id,
                   "invoice_number": f"F{now[:4]}-{self._last_number:06d}",
                   "customer_id": customer_id, "items": items,
                   "total": dataset.invoice_total(items), "currency": currency,
                   "status": "open", "created_at": now, "updated_at": now}
        self._store(invoice)
        self.effects.record("invoices", idempotency_key, new_id)
        return json_response(HTTPStatus.CREATED, {"data": invoice})

    def _update(self, request: Request, key: str) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body:
            raise validation_error("The body must be an object with customer_id or items.")
        unknown = sorted(body.keys() - {"customer_id", "items"})
        if unknown:
            raise validation_error("Only customer_id and items can be changed; use /cancel, "
                                   "/charge or /refund for the status.", fields=unknown)
        with self.lock:
            invoice = self._find(key)
            if invoice["status"] != "open":
                raise _invalid_state(invoice, "change")
            changes: dict[str, Any] = {}
            if "customer_id" in body:
                changes["customer_id"] = _customer_id(body["customer_id"])
            if "items" in body:
                items, _ = self._priced_items(body["items"], invoice["currency"])
                changes.update(items=items, total=dataset.invoice_total(items))
            updated = self._store({**invoice, **changes, "updated_at": self.clock.now()})
        return json_response(HTTPStatus.OK, {"data": updated})

    def _cancel(self, request: Request, key: str) -> Response:
        with self.lock:
            invoice = self._find(key)
            if invoice["status"] == "paid":
                raise _invalid_state(invoice, "cancel", "refund it first")
            if invoice["status"] in ("open", "refunded"):
                invoice = self._store({**invoice, "status": "cancelled",
                                       "updated_at": self.clock.now()})
        return json_response(HTTPStatus.OK, {"data": invoice})

    def _charge(self, request: Request, key: str) -> Response:
        return self._idempotent(request, f"charge:{key}",
                                lambda idempotency_key: self._charge_now(key, idempotency_key))

    def _charge_now(self, key: str, idempotency_key: str | None) -> Response:
        invoice = self._find(key)
        if invoice["status"] != "open":
            raise _invalid_state(invoice, "charge")
        if invoice["customer_id"] in self.extra_fault("declined_customers", []):
            raise ApiError(HTTPStatus.PAYMENT_REQUIRED, "card_declined",
                           "The customer's card was declined.", invoice_id=invoice["id"])
        now = self.clock.now()
        paid = self._store({**invoice, "status": "paid", "updated_at": now})
        payment = {"id": f"PAY-{len(self.payments) + 1:06d}", "invoice_id": paid["id"],
                   "amount": paid["total"], "currency": paid["currency"],
                   "status": "succeeded", "created_at": now}
        self.payments[paid["id"]] = payment
        self.effects.record("charges", idempotency_key, payment["id"])
        return json_response(HTTPStatus.OK, {"data": paid, "payment": payment})

    def _refund(self, request: Request, key: str) -> Response:
        return self._idempotent(request, f"refund:{key}",
                                lambda idempotency_key: self._refund_now(key, idempotency_key))

    def _refund_now(self, key: str, idempotency_key: str | None) -> Response:
        invoice = self._find(key)
        if invoice["status"] != "paid":
            raise _invalid_state(invoice, "refund")
        now = self.clock.now()
        refunded = self._store({**invoice, "status": "refunded", "updated_at": now})
        # An invoice seeded as paid has no payment on record here; its refund names none.
        payment = self.payments.get(key)
        if payment is not None:
            self.payments[key] = {**payment, "status": "refunded"}
        refund = {"id": f"RFD-{len(self.refunds) + 1:06d}", "invoice_id": key,
                  "payment_id": None if payment is None else payment["id"],
                  "amount": refunded["total"], "currency": refunded["currency"],
                  "status": "succeeded", "created_at": now}
        self.refunds[refund["id"]] = refund
        self.effects.record("refunds", idempotency_key, refund["id"])
        return json_response(HTTPStatus.OK, {"data": refunded, "refund": refund})

    def effect_is_current(self, kind: str, object_id: str) -> bool:
        """An invoice until it is cancelled, a charge until it is refunded, any refund."""
        if kind == "invoices":
            return self.invoices.get(object_id, {}).get("status") not in (None, "cancelled")
        if kind == "charges":
            return any(payment["id"] == object_id and payment["status"] == "succeeded"
                       for payment in self.payments.values())
        return object_id in self.refunds

    # -- helpers ---------------------------------------------------------------------------

    def _idempotent(self, request: Request, scope: str,
                    perform: Callable[[str | None], Response]) -> Response:
        """Run `perform(key)` once per Idempotency-Key; replay its success on a retry."""
        key = request.header("idempotency-key")
        if not key:
            with self.lock:
                return perform(None)
        slot = (request.bearer_token() or "", scope, key)
        fingerprint = request.json() if request.body else None
        with self.lock:
            stored = self._idempotency.get(slot)
            if stored is not None:
                if stored[0] != fingerprint:
                    raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "idempotency_key_reused",
                                   "This Idempotency-Key was used with a different request.")
                first = stored[1]
                return Response(first.status, first.body,
                                {**first.headers, "Idempotent-Replayed": "true"})
            response = perform(key)
            self._idempotency[slot] = (fingerprint, response)
            return response

    def _store(self, invoice: Record) -> Record:
        self.invoices[invoice["id"]] = invoice
        self._order_stale = True
        return invoice

    def _find(self, key: str) -> Record:
        invoice = self.invoices.get(key)
        if invoice is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", f"Invoice {key} not found.")
        return invoice

    def _shaped(self, invoice: Record) -> Record:
        """The invoice as served: no customer and a non-numeric total when `malformed`."""
        if self.is_malformed(invoice["id"]):
            return {**invoice, "customer_id": None, "total": "not-a-number"}
        return invoice

    def _priced_items(self, raw_items: Any, wanted: Any) -> tuple[list[Record], str]:
        """Validated items, each with a unit price, and the one currency they are in."""
        if not isinstance(raw_items, list) or not raw_items:
            raise validation_error("`items` must be a non-empty list of {sku, quantity}.")
        currencies = set() if wanted is None else {currency(wanted, "currency")}
        items = []
        for item in raw_items:
            quantity = item.get("quantity") if isinstance(item, dict) else None
            if (not isinstance(item, dict) or not item.keys() <= {"sku", "quantity", "unit_price"}
                    or not isinstance(item.get("sku"), str) or isinstance(quantity, bool)
                    or not isinstance(quantity, int) or quantity < 1):
                raise validation_error("Each item must be {sku, quantity >= 1, unit_price?}.",
                                       item=item)
            if "unit_price" in item:
                unit_price = amount(item["unit_price"], "unit_price")
            else:
                price = self.catalog.get(item["sku"])
                if price is None:
                    raise validation_error("Unknown SKU without a unit_price.", sku=item["sku"])
                unit_price = price["amount"]
                currencies.add(price["currency"])
            items.append({"sku": item["sku"], "quantity": quantity, "unit_price": unit_price})
        if len(currencies) > 1:
            raise validation_error("All items of an invoice must share one currency.",
                                   currencies=sorted(currencies))
        return items, next(iter(currencies), "EUR")


def _invoice_filter(request: Request) -> Callable[[Record], bool]:
    """What the customer, `status` and `created[gt]` filters keep (Stripe's meanings)."""
    customers = _customer_filter(request)
    status = query_choice(request, "status", INVOICE_STATUSES)
    created_after = query_since(request, "created[gt]")

    def keeps(invoice: Record) -> bool:
        return ((customers is None or invoice["customer_id"] in customers)
                and (status is None or invoice["status"] == status)
                and (created_after is None or invoice["created_at"] > created_after))

    return keeps


def _customer_filter(request: Request) -> set[int] | None:
    """The customers a list is filtered to: `customer_id` (one) or `customer_ids` (a batch,
    so a consumer listing many customers' invoices needs one call, not one per customer)."""
    one, many = request.param("customer_id"), request.param("customer_ids")
    if one is not None and many is not None:
        raise ApiError(HTTPStatus.BAD_REQUEST, "invalid_parameter",
                       "Filter by `customer_id` or by `customer_ids`, not both.",
                       parameter="customer_ids")
    if one is not None:
        if not one.lstrip("-").isdigit():
            raise invalid_parameter("customer_id", "must be an integer")
        return {int(one)}
    if many is None:
        return None
    values = query_list(request, "customer_ids")  # 400 past MAX_BATCH ids
    if not values or not all(value.lstrip("-").isdigit() for value in values):
        raise invalid_parameter("customer_ids", "must be a comma-separated list of integers")
    return {int(value) for value in values}


def _customer_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise validation_error("`customer_id` must be a positive integer.")
    return value
