"""A Directus instance holding the `customers` collection, answering as Directus' REST API does.

Endpoints (a static token in `Authorization: Bearer <token>` or `?access_token=<token>`):

    GET    /server/ping                     "pong" (public)
    GET    /server/health                   {"status": "ok"} (public)
    GET    /items/customers                 filter, fields, sort, limit, offset, page, search, meta
    GET    /items/customers/{id}            {"data": {...}}
    POST   /items/customers                 one object or an array; {"data": ...}
    PATCH  /items/customers/{id}            {"data": {...}}
    DELETE /items/customers/{id}            204

As in Directus: errors are `{"errors": [{"message", "extensions": {"code", ...}}]}`; a request
without a token gets the public role, which may read nothing (403 FORBIDDEN); a wrong token is
401 INVALID_CREDENTIALS; a missing item, collection or field is 403 FORBIDDEN, not 404; a
create sets `date_created` and leaves `date_updated` null (Directus' `date-updated` field is
set on update only), so change detection must look at both.

Flows-style webhooks: after `POST /__control/webhook {"url", "secret", "header"?}` every
create, update and delete POSTs `{"event": "items.create|items.update|items.delete",
"collection", "keys", "payload"}` with the secret in the header, by default
`X-Directus-Webhook-Secret`; a create names its new item in `key` instead of `keys`. This
follows how Directus builds its action events: api/src/controllers/items.ts calls
`service.updateOne(req.params['pk'], req.body)` and `deleteOne(req.params['pk'])`, and
api/src/services/items.ts emits `items.create` with `{payload, key, collection}`,
`items.update` with `{payload, keys, collection}` and `items.delete` with
`{payload: keys, keys, collection}`. So an update's and a delete's keys are the key from the
URL, a string; an update's payload is the request body as the client sent it, fields the
collection lacks included; a delete's payload is its keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from devtools.reference import dataset
from devtools.reference.dataset import CUSTOMER_STATUSES, Record, Sizes
from devtools.reference.directus_query import (
    INTEGER,
    META_KEYS,
    STRING,
    TIMESTAMP,
    ForbiddenField,
    InvalidQuery,
    parse,
    parse_fields,
    project,
    run,
)
from devtools.reference.faults import as_bool
from devtools.reference.server import ApiError, ReferenceServer
from devtools.reference.web import Request, Response, Route, json_response, route
from devtools.reference.webhooks import WebhookSender, WebhookTarget

DEFAULT_TOKEN = "ref-directus-static-token"  # noqa: S105 - the reference server's demo token
WEBHOOK_HEADER = "X-Directus-Webhook-Secret"
COLLECTION = "customers"
SCHEMA = {"id": INTEGER, "email": STRING, "name": STRING, "status": STRING,
          "date_created": TIMESTAMP, "date_updated": TIMESTAMP}
WRITABLE = ("email", "name", "status")
FORBIDDEN_MESSAGE = "You don't have permission to access this."

# Directus' words for the base's generic error codes.
_CODES = {"rate_limited": "REQUESTS_EXCEEDED", "not_found": "ROUTE_NOT_FOUND"}


def _forbidden() -> ApiError:
    return ApiError(HTTPStatus.FORBIDDEN, "forbidden", FORBIDDEN_MESSAGE)


class DirectusServer(ReferenceServer):
    name = "directus"
    extra_fault_knobs = {"token_expired": as_bool}

    items: dict[int, Record]

    def __init__(self, *, token: str = DEFAULT_TOKEN, **options: Any) -> None:
        self.token = token
        self.webhooks = WebhookSender(user_agent="Directus (DictaMesh reference server)")
        super().__init__(**options)

    def stop(self) -> None:
        super().stop()
        self.webhooks.close()

    def load(self, seed: int, sizes: Sizes) -> None:
        self.items = {item["id"]: item for item in dataset.customers(seed, sizes.customers)}

    def routes(self) -> list[Route]:
        item = r"/items/(?P<collection>[^/]+)/(?P<key>[^/]+)"
        return [
            route("GET", r"/server/ping", self._ping, public=True),
            route("GET", r"/server/health", self._health, public=True),
            route("GET", r"/items/(?P<collection>[^/]+)", self._list),
            route("POST", r"/items/(?P<collection>[^/]+)", self._create),
            route("GET", item, self._read),
            route("PATCH", item, self._update),
            route("DELETE", item, self._delete),
        ]

    def control_routes(self) -> list[Route]:
        return [*super().control_routes(),
                route("POST", r"/__control/webhook", self._configure_webhook)]

    def credential(self, request: Request) -> str | None:
        return request.bearer_token() or request.param("access_token")

    def authenticate(self, request: Request) -> None:
        token = self.credential(request)
        if token is None:
            raise _forbidden()
        if self.extra_fault("token_expired", False):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "token_expired", "Token expired.")
        if token != self.token:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "invalid_credentials",
                           "Invalid user credentials.")

    def error(self, status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
        extensions = {"code": _CODES.get(code, code).upper(), **details}
        return json_response(status, {"errors": [{"message": message, "extensions": extensions}]})

    def reset_extras(self) -> None:
        self.webhooks.target = None
        self.webhooks.clear_counts()

    def extra_stats(self) -> dict[str, Any]:
        return {"webhooks": self.webhooks.stats()}

    # -- server ----------------------------------------------------------------------------

    def _ping(self, request: Request) -> Response:
        return Response(HTTPStatus.OK, b"pong", {"Content-Type": "text/html; charset=utf-8"})

    def _health(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, {"status": "ok"},
                             {"Content-Type": "application/health+json; charset=utf-8",
                              "Cache-Control": "no-cache"})

    # -- items -----------------------------------------------------------------------------

    def _list(self, request: Request, collection: str) -> Response:
        self._check_collection(collection)
        try:
            query = parse(request.query, SCHEMA)
        except InvalidQuery as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, "invalid_query", f"Invalid query. {exc}.",
                           reason=str(exc)) from None
        except ForbiddenField:
            raise _forbidden() from None
        with self.lock:
            # Records are replaced, never changed in place, so this snapshot stays consistent.
            items = list(self.items.values())
        page, filter_count = run(items, query)
        body: dict[str, Any] = {"data": [project(self._shaped(item), query.fields)
                                         for item in page]}
        if query.meta:
            counts = {"total_count": len(items), "filter_count": filter_count}
            body["meta"] = {key: counts[key] for key in META_KEYS if key in query.meta}
        return json_response(HTTPStatus.OK, body)

    def _read(self, request: Request, collection: str, key: str) -> Response:
        self._check_collection(collection)
        item = self._find(key)
        return json_response(HTTPStatus.OK, {"data": project(self._shaped(item),
                                                             self._fields(request))})

    def _create(self, request: Request, collection: str) -> Response:
        self._check_collection(collection)
        body = request.json()
        payloads = body if isinstance(body, list) else [body]
        with self.lock:
            created = []
            pending_emails = set()
            for payload in payloads:
                values = self._writable(payload, creating=True)
                if values["email"] in pending_emails:
                    raise _not_unique("email")
                pending_emails.add(values["email"])
                created.append(values)
            next_id = max(self.items, default=0) + 1
            for offset, values in enumerate(created):
                values.update(id=next_id + offset, date_created=self.clock.now(),
                              date_updated=None)
                self.items[values["id"]] = {name: values[name] for name in SCHEMA}
        for values, payload in zip(created, payloads, strict=True):
            self._emit("items.create", None, _known(payload), key=values["id"])
        fields = self._fields(request)
        data = [project(self.items.get(values["id"], values), fields) for values in created]
        return json_response(HTTPStatus.OK, {"data": data if isinstance(body, list) else data[0]})

    def _update(self, request: Request, collection: str, key: str) -> Response:
        self._check_collection(collection)
        payload = request.json()
        with self.lock:
            item = self._find(key)
            changes = self._writable(payload, creating=False, current=item)
            updated = {**item, **changes, "date_updated": self.clock.now()}
            self.items[item["id"]] = updated
        # Directus passes the URL's key (a string) and the request body, as sent, to the
        # update's action event (see the module docstring).
        self._emit("items.update", [key], payload)
        return json_response(HTTPStatus.OK, {"data": project(updated, self._fields(request))})

    def _delete(self, request: Request, collection: str, key: str) -> Response:
        self._check_collection(collection)
        with self.lock:
            item = self._find(key)
            del self.items[item["id"]]
        self._emit("items.delete", [key], [key])
        return Response(HTTPStatus.NO_CONTENT)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _check_collection(collection: str) -> None:
        if collection != COLLECTION:
            raise _forbidden()

    @staticmethod
    def _fields(request: Request) -> tuple[str, ...]:
        try:
            return parse_fields(request.query, SCHEMA)
        except ForbiddenField:
            raise _forbidden() from None

    def _find(self, key: str) -> Record:
        try:
            return self.items[int(key)]
        except (ValueError, KeyError):
            raise _forbidden() from None

    def _shaped(self, item: Record) -> Record:
        """The item as served: without its primary key when the `malformed` knob names it."""
        if self.is_malformed(item["id"]):
            return {name: value for name, value in item.items() if name != "id"}
        return item

    def _writable(self, payload: Any, *, creating: bool,
                  current: Record | None = None) -> dict[str, Any]:
        """The payload's writable fields, validated as the collection's field rules do."""
        if not isinstance(payload, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "invalid_payload",
                           "Invalid payload. An item must be a JSON object.")
        values = {name: payload[name] for name in WRITABLE if name in payload}
        if creating:
            values.setdefault("status", "active")
        for name in WRITABLE:
            if name not in values:
                if creating:
                    raise _failed_validation(name, "required", "Value is required.")
                continue
            if not isinstance(values[name], str) or not values[name].strip():
                raise _failed_validation(name, "required", "Value is required.")
        if "status" in values and values["status"] not in CUSTOMER_STATUSES:
            raise _failed_validation("status", "in", "Value has to be one of "
                                     + ", ".join(CUSTOMER_STATUSES) + ".",
                                     valid=list(CUSTOMER_STATUSES))
        if "email" in values and any(
                other["email"] == values["email"] and other is not current
                for other in self.items.values()):
            raise _not_unique("email")
        return values

    def _emit(self, event: str, keys: list[Any] | None, payload: Any, **extra: Any) -> None:
        names = {} if keys is None else {"keys": keys}  # a create names its item in `key`
        self.webhooks.send({"event": event, "collection": COLLECTION, **extra, **names,
                            "payload": payload})

    def _configure_webhook(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body.keys() <= {"url", "secret", "header"}:
            raise ValueError("webhook takes url, secret and optionally header")
        if body.get("url") is None:
            self.webhooks.target = None
            return json_response(HTTPStatus.OK, {"url": None})
        secret, header = body.get("secret"), body.get("header", WEBHOOK_HEADER)
        if not isinstance(secret, str) or not secret or not isinstance(header, str):
            raise ValueError("webhook needs a non-empty secret (and a header name, if given)")
        self.webhooks.target = WebhookTarget(url=str(body["url"]), secret=secret, header=header)
        return json_response(HTTPStatus.OK, {"url": body["url"], "header": header})


def _known(payload: Any) -> dict[str, Any]:
    """The part of a client's payload Directus keeps: fields the collection has."""
    return {name: value for name, value in payload.items() if name in SCHEMA}


def _failed_validation(field: str, rule: str, detail: str, **extra: Any) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "failed_validation",
                    f'Validation failed for field "{field}". {detail}',
                    field=field, type=rule, **extra)


def _not_unique(field: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "record_not_unique",
                    f'Value for field "{field}" in collection "{COLLECTION}" has to be unique.',
                    collection=COLLECTION, field=field)
