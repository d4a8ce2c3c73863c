"""A supplier directory API of the kind a platform team connects by description alone: cursor
pagination, a changed-since filter, a by-ids lookup, rate-limit headers, and each supplier's
product SKUs (so suppliers relate to the products source's products).

Endpoints (the token as a bearer token, as `X-API-Key`, or as the password of HTTP basic
auth with any user name, so a description can use each kind; errors are
`{"error": {"code", "message", "details"?}}`):

    GET    /api/suppliers?limit=&cursor=&updated_since=&country=
                                                    {"data": [...], "next_cursor": text|null}
    GET    /api/suppliers?limit=&offset=&...         the same, from an offset
    GET    /api/suppliers?ids=a,b,c                        those suppliers (at most 100)
    GET    /api/suppliers/{id}                             {"supplier": {...}}, 404 when missing
    PATCH  /api/suppliers/{id}                             {"name"?, "product_skus"?}: bumps
                                                           updated_at

Suppliers are ordered by id; the cursor is opaque (the last id served). `updated_since` keeps
suppliers with `updated_at >= updated_since`. Every answer carries `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the window resets); the
`rate_limit_remaining` and `rate_limit_reset_s` fault knobs set the last two (by default
the budget never runs out). Product SKU n belongs to
supplier ((n - 1) mod suppliers) + 1, so every product has exactly one supplier.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml

from devtools.reference import dataset
from devtools.reference.clock import format_ts
from devtools.reference.dataset import Record, Sizes
from devtools.reference.faults import as_int
from devtools.reference.rest import (
    error_response,
    invalid_parameter,
    query_int,
    query_list,
    query_since,
    validation_error,
)
from devtools.reference.server import ApiError, ReferenceServer
from devtools.reference.web import Request, Response, Route, json_response, route

DEFAULT_TOKEN = "ref-suppliers-token"  # noqa: S105 - a development credential
DEFAULT_SUPPLIERS = 6
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
RATE_LIMIT = 1000
#: this API described in data, for a declarative source connection (no adapter code)
DESCRIPTION: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "suppliers.yaml").read_text(encoding="utf-8"))
_COUNTRIES = ("DE", "FR", "NL", "PL", "SE", "IT")
_NAMES = ("Acme", "Borealis", "Cobalt", "Delta", "Evergreen", "Fjord", "Granite", "Harbor")


def supplier_id(number: int) -> str:
    return f"SUP-{number:03d}"


def suppliers(seed: int, count: int, products: int) -> list[Record]:
    """Suppliers, each with the SKUs it supplies: SKU n is supplier ((n-1) mod count)+1's."""
    rng = dataset._rng(seed, "suppliers")
    records = []
    for number in range(1, count + 1):
        records.append({
            "id": supplier_id(number),
            "name": f"{dataset._pick(rng, _NAMES)} Supply {number}",
            "country": dataset._pick(rng, _COUNTRIES),
            "rating": f"{1 + dataset._below(rng, 40) / 10:.1f}",
            "active": rng.random() < 0.9,
            "credit_limit": {"amount": dataset.money(100_000 + dataset._below(rng, 900_000)),
                             "currency": "EUR"},
            "product_skus": [dataset.sku(n) for n in range(number, products + 1, count)],
            "updated_at": format_ts(dataset._moment(rng)),
        })
    return records


def _cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def _after(request: Request) -> str | None:
    raw = request.param("cursor")
    if raw is None or raw == "":
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter("cursor", "is not a cursor this API issued") from None


class SuppliersServer(ReferenceServer):
    name = "suppliers"
    extra_fault_knobs = {"rate_limit_remaining": as_int, "rate_limit_reset_s": as_int}

    records: dict[str, Record]

    def __init__(self, *, token: str = DEFAULT_TOKEN, count: int = DEFAULT_SUPPLIERS,
                 **options: Any) -> None:
        self.token, self.count = token, count
        super().__init__(**options)

    def load(self, seed: int, sizes: Sizes) -> None:
        self.records = {s["id"]: s for s in suppliers(seed, self.count, sizes.products)}

    def routes(self) -> list[Route]:
        return [
            route("GET", r"/api/suppliers", self._list),
            route("GET", r"/api/suppliers/(?P<key>[^/]+)", self._read),
            route("PATCH", r"/api/suppliers/(?P<key>[^/]+)", self._update),
        ]

    def credential(self, request: Request) -> str | None:
        scheme, _, value = (request.header("authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(value.strip()).decode().partition(":")[2] or None
            except (ValueError, UnicodeDecodeError):
                return None
        return request.bearer_token() or request.header("x-api-key")

    def authenticate(self, request: Request) -> None:
        if self.credential(request) != self.token:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "unauthorized", "Missing or invalid token.")

    def error(self, status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
        return error_response(status, code, message, details, self._rate_headers())

    def _rate_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": str(self.extra_fault("rate_limit_remaining",
                                                              RATE_LIMIT)),
                "X-RateLimit-Reset": str(self.extra_fault("rate_limit_reset_s", 60))}

    def _answer(self, body: Any) -> Response:
        return json_response(HTTPStatus.OK, body, self._rate_headers())

    def _list(self, request: Request) -> Response:
        if request.param("ids") is not None:
            keys = query_list(request, "ids")
            with self.lock:
                found = [self._shaped(self.records[k]) for k in keys if k in self.records]
            return self._answer({"data": found, "next_cursor": None})
        limit = query_int(request, "limit", DEFAULT_LIMIT, maximum=MAX_LIMIT)
        since, after = query_since(request), _after(request)
        offset = query_int(request, "offset", 0, maximum=10**9) \
            if request.param("offset") not in (None, "0") else 0
        country = request.param("country")
        with self.lock:
            selected = sorted((s for s in self.records.values()
                               if (since is None or s["updated_at"] >= since)
                               and (after is None or s["id"] > after)
                               and (country is None or s["country"] == country)),
                              key=lambda s: s["id"])
        window = selected[offset:offset + limit]
        more = len(selected) > offset + limit
        return self._answer({"data": [self._shaped(s) for s in window],
                             "next_cursor": _cursor(window[-1]["id"]) if more else None})

    def _read(self, request: Request, key: str) -> Response:
        with self.lock:
            return self._answer({"supplier": self._shaped(self._find(key))})

    def _update(self, request: Request, key: str) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body or not set(body) <= {"name", "product_skus"}:
            raise validation_error("The body must be {name?, product_skus?}.")
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise validation_error("`name` must be non-empty text.", fields=["name"])
        skus = body.get("product_skus", [])
        if not isinstance(skus, list) or not all(isinstance(s, str) and s for s in skus):
            raise validation_error("`product_skus` must be a list of SKUs.",
                                   fields=["product_skus"])
        with self.lock:
            updated = {**self._find(key), **body, "updated_at": self.clock.now()}
            self.records[key] = updated
        return self._answer({"supplier": updated})

    def _find(self, key: str) -> Record:
        found = self.records.get(key)
        if found is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", f"Supplier {key} not found.")
        return found

    def _shaped(self, record: Record) -> Record:
        """The supplier as served: without a name when `malformed` names it."""
        if self.is_malformed(record["id"]):
            return {key: value for key, value in record.items() if key != "name"}
        return record
