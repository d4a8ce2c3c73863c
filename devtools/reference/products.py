"""A typical third-party product API: page pagination, batch lookup, ETags, stock reservations.

Endpoints (API key in `X-API-Key`; errors are `{"error": {"code", "message", "details"?}}`):

    GET    /v1/products?page=&per_page=&updated_since=   {"items", "page", "per_page", "total",
                                                         "total_pages"} + Link (next/prev/...)
           &sku=&search=&stock_status=               filters, as WooCommerce's REST API
                                                         names them (see below)
    GET    /v1/products?skus=a,b,c                       batch lookup (at most 100), in the
                                                         order asked, plus "missing": [...]
    GET    /v1/products/{sku}                            the product, 404 when missing
    PATCH  /v1/products/{sku}                            name, price {amount, currency}, stock
    POST   /v1/reservations                              {"items": [{"sku", "quantity"}],
                                                         "idempotency_key"?} -> 201, 409 short
    GET    /v1/reservations/{id}                         the reservation
    DELETE /v1/reservations/{id}                         release it (idempotent) -> 200

Every GET carries an ETag and answers 304 to a matching If-None-Match. Products are ordered by
SKU; `updated_since` keeps products with `updated_at >= updated_since`. A reservation takes its
quantities out of `stock` and a release puts them back, both bumping `updated_at`.

The list filters follow WooCommerce's "List all products" (REST API v3,
https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-products): `sku` keeps
the products with that SKU (several comma-separated), `search` those whose name contains the
text (any case; our products have no description to search), `stock_status` is `instock`
(stock above 0) or `outofstock` (none left); `total` counts the filtered products.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from devtools.reference import dataset
from devtools.reference.dataset import Record, Sizes
from devtools.reference.rest import (
    amount,
    currency,
    error_response,
    query_choice,
    query_int,
    query_list,
    query_since,
    validation_error,
)
from devtools.reference.server import ApiError, ReferenceServer
from devtools.reference.web import Request, Response, Route, json_response, route, with_etag

DEFAULT_API_KEYS = ("ref-products-key-1", "ref-products-key-2")
DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 250


class ProductsServer(ReferenceServer):
    name = "products"
    effect_kinds = ("reservations",)

    products: dict[str, Record]
    reservations: dict[str, Record]
    # (API key, idempotency key) -> (the request's items, the reservation's id)
    _idempotency: dict[tuple[str, str], tuple[list[Record], str]]

    def __init__(self, *, api_keys: tuple[str, ...] = DEFAULT_API_KEYS, **options: Any) -> None:
        self.api_keys = frozenset(api_keys)
        super().__init__(**options)

    def load(self, seed: int, sizes: Sizes) -> None:
        self.products = {p["sku"]: p for p in dataset.products(seed, sizes.products)}
        self.reservations, self._idempotency = {}, {}

    def routes(self) -> list[Route]:
        return [
            route("GET", r"/v1/products", self._list),
            route("GET", r"/v1/products/(?P<sku>[^/]+)", self._read),
            route("PATCH", r"/v1/products/(?P<sku>[^/]+)", self._update),
            route("POST", r"/v1/reservations", self._reserve, write="reserve_stock"),
            route("GET", r"/v1/reservations/(?P<reservation_id>[^/]+)", self._reservation),
            route("DELETE", r"/v1/reservations/(?P<reservation_id>[^/]+)", self._release,
                  write="release_reservation"),
        ]

    def credential(self, request: Request) -> str | None:
        return request.header("x-api-key")

    def authenticate(self, request: Request) -> None:
        if self.credential(request) not in self.api_keys:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "unauthorized", "Missing or invalid API key.")

    def error(self, status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
        return error_response(status, code, message, details)

    # -- products --------------------------------------------------------------------------

    def _list(self, request: Request) -> Response:
        if request.param("skus") is not None:
            return self._batch(request)
        page = query_int(request, "page", 1, maximum=10**9)
        per_page = query_int(request, "per_page", DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE)
        since = query_since(request)
        wanted = _product_filter(request)
        with self.lock:
            selected = [p for p in self.products.values()
                        if (since is None or p["updated_at"] >= since) and wanted(p)]
        selected.sort(key=lambda product: product["sku"])
        total_pages = math.ceil(len(selected) / per_page)
        window = selected[(page - 1) * per_page:page * per_page]
        body = {"items": [self._shaped(p) for p in window], "page": page, "per_page": per_page,
                "total": len(selected), "total_pages": total_pages}
        links = _links(request, page, total_pages)
        return with_etag(request, json_response(HTTPStatus.OK, body,
                                                {"Link": links} if links else None))

    def _batch(self, request: Request) -> Response:
        skus = query_list(request, "skus")
        with self.lock:
            found = [self.products[sku] for sku in skus if sku in self.products]
        body = {"items": [self._shaped(p) for p in found], "page": 1, "per_page": len(skus),
                "total": len(found), "total_pages": 1,
                "missing": [sku for sku in skus if sku not in self.products]}
        return with_etag(request, json_response(HTTPStatus.OK, body))

    def _read(self, request: Request, sku: str) -> Response:
        return with_etag(request, json_response(HTTPStatus.OK, self._shaped(self._find(sku))))

    def _update(self, request: Request, sku: str) -> Response:
        changes = _product_changes(request.json())
        with self.lock:
            product = self._find(sku)
            if "price" in changes:
                changes["price"] = {**product["price"], **changes["price"]}
            updated = {**product, **changes, "updated_at": self.clock.now()}
            self.products[sku] = updated
        return json_response(HTTPStatus.OK, self._shaped(updated))

    def effect_is_current(self, kind: str, object_id: str) -> bool:
        reservation = self.reservations.get(object_id)
        return reservation is not None and reservation["status"] == "active"

    def _find(self, sku: str) -> Record:
        product = self.products.get(sku)
        if product is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", f"Product {sku} not found.")
        return product

    def _shaped(self, product: Record) -> Record:
        """The product as served: with a non-numeric price when `malformed` names it."""
        if self.is_malformed(product["sku"]):
            return {**product, "price": {**product["price"], "amount": "N/A"}}
        return product

    # -- reservations ----------------------------------------------------------------------

    def _reserve(self, request: Request) -> Response:
        body = request.json()
        items, idempotency_key = _reservation_request(body)
        credential = self.credential(request) or ""
        with self.lock:
            if idempotency_key is not None:
                previous = self._idempotency.get((credential, idempotency_key))
                if previous is not None:
                    return self._replay(previous, items)
            unknown = [item["sku"] for item in items if item["sku"] not in self.products]
            if unknown:
                raise validation_error("Unknown SKU(s).", skus=unknown)
            short = [{"sku": item["sku"], "requested": item["quantity"],
                      "available": self.products[item["sku"]]["stock"]}
                     for item in items if item["quantity"] > self.products[item["sku"]]["stock"]]
            if short:
                raise ApiError(HTTPStatus.CONFLICT, "insufficient_stock",
                               "Not enough stock to reserve every item.", items=short)
            self._move_stock(items, direction=-1)
            reservation: Record = {"reservation_id": f"RSV-{len(self.reservations) + 1:06d}",
                           "status": "active", "items": items,
                           "idempotency_key": idempotency_key,
                           "created_at": self.clock.now(), "released_at": None}
            self.reservations[reservation["reservation_id"]] = reservation
            self.effects.record("reservations", idempotency_key, reservation["reservation_id"])
            if idempotency_key is not None:
                self._idempotency[(credential, idempotency_key)] = (
                    items, reservation["reservation_id"])
        return json_response(HTTPStatus.CREATED, reservation)

    def _replay(self, previous: tuple[list[Record], str], items: list[Record]) -> Response:
        original_items, reservation_id = previous
        if original_items != items:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "idempotency_key_reused",
                           "This idempotency_key was used with different items.")
        return json_response(HTTPStatus.CREATED, self.reservations[reservation_id],
                             {"Idempotent-Replayed": "true"})

    def _reservation(self, request: Request, reservation_id: str) -> Response:
        return with_etag(request, json_response(HTTPStatus.OK,
                                                self._find_reservation(reservation_id)))

    def _release(self, request: Request, reservation_id: str) -> Response:
        with self.lock:
            reservation = self._find_reservation(reservation_id)
            if reservation["status"] == "active":
                self._move_stock(reservation["items"], direction=1)
                reservation = {**reservation, "status": "released",
                               "released_at": self.clock.now()}
                self.reservations[reservation_id] = reservation
        return json_response(HTTPStatus.OK, reservation)

    def _find_reservation(self, reservation_id: str) -> Record:
        reservation = self.reservations.get(reservation_id)
        if reservation is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found",
                           f"Reservation {reservation_id} not found.")
        return reservation

    def _move_stock(self, items: list[Record], direction: int) -> None:
        now = self.clock.now()
        for item in items:
            product = self.products[item["sku"]]
            self.products[item["sku"]] = {**product, "updated_at": now,
                                          "stock": product["stock"] + direction * item["quantity"]}


STOCK_STATUSES = ("instock", "outofstock")


def _product_filter(request: Request) -> Callable[[Record], bool]:
    """The products `sku`, `search` and `stock_status` keep (WooCommerce's meanings)."""
    skus = {part.strip() for part in (request.param("sku") or "").split(",") if part.strip()}
    search = (request.param("search") or "").lower()
    stock = query_choice(request, "stock_status", STOCK_STATUSES)

    def keeps(product: Record) -> bool:
        return ((not skus or product["sku"] in skus)
                and (not search or search in product["name"].lower())
                and (stock is None or (product["stock"] > 0) == (stock == "instock")))

    return keeps


def _links(request: Request, page: int, total_pages: int) -> str:
    """RFC 8288 links to the neighbouring, first and last pages, keeping the other parameters."""
    base = f"http://{request.header('host') or 'localhost'}{request.path}"
    kept = {name: values[-1] for name, values in request.query.items() if name != "page"}
    pages = {"first": 1, "last": total_pages}
    if page < total_pages:
        pages["next"] = page + 1
    if 1 < page <= total_pages:
        pages["prev"] = page - 1
    return ", ".join(f'<{base}?{urlencode({**kept, "page": number})}>; rel="{rel}"'
                     for rel, number in pages.items() if number >= 1)


def _product_changes(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not body:
        raise validation_error("The body must be an object with name, price or stock.")
    unknown = sorted(body.keys() - {"name", "price", "stock"})
    if unknown:
        raise validation_error("Only name, price and stock can be changed.", fields=unknown)
    changes: dict[str, Any] = {}
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise validation_error("`name` must be a non-empty string.", fields=["name"])
        changes["name"] = body["name"].strip()
    if "stock" in body:
        stock = body["stock"]
        if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            raise validation_error("`stock` must be a non-negative integer.", fields=["stock"])
        changes["stock"] = stock
    if "price" in body:
        changes["price"] = _price(body["price"])
    return changes


def _price(price: Any) -> dict[str, str]:
    if not isinstance(price, dict) or "amount" not in price or not (
            price.keys() <= {"amount", "currency"}):
        raise validation_error("`price` must be {amount, currency?}.", fields=["price"])
    changed = {"amount": amount(price["amount"], "price.amount")}
    if "currency" in price:
        changed["currency"] = currency(price["currency"], "price.currency")
    return changed


def _reservation_request(body: Any) -> tuple[list[Record], str | None]:
    if not isinstance(body, dict) or not body.keys() <= {"items", "idempotency_key"}:
        raise validation_error("The body must be {items, idempotency_key?}.")
    key = body.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not key):
        raise validation_error("`idempotency_key` must be a non-empty string.")
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise validation_error("`items` must be a non-empty list of {sku, quantity}.")
    items = []
    for item in raw_items:
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if (not isinstance(item, dict) or not isinstance(item.get("sku"), str)
                or isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1):
            raise validation_error("Each item must be {sku, quantity >= 1}.", item=item)
        items.append({"sku": item["sku"], "quantity": quantity})
    if len({item["sku"] for item in items}) != len(items):
        raise validation_error("Each SKU may appear once per reservation.")
    return items, key
