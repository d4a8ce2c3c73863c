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
401 INVALID_CREDENTIALS; a missing item or collection is 403 FORBIDDEN, not 404; a field the
collection lacks is left out of `fields`, 400 in a filter and 500 in a sort (see
directus_query.py), unless the `major_version` knob is 11: then any of them is a 403 naming
the field, as Directus 11 answers; a
create sets `date_created` and leaves `date_updated` null (Directus' `date-updated` field is
set on update only), so change detection must look at both.

Webhooks as a Directus Flow sends them: after `POST /__control/webhook {"url", "secret",
"header"?, "shape"?}` every create, update and delete POSTs the Flow's `{{$trigger}}` (see
`flow_event`) with the secret in the header (by default `X-Directus-Webhook-Secret`), as a
"Webhook / Request URL" operation with that header does. `"shape": "legacy"` sends what the
Webhooks module of Directus 10.x and earlier sent instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from devtools.reference import dataset
from devtools.reference.dataset import Record, Sizes
from devtools.reference.directus_query import (
    INTEGER,
    META_KEYS,
    STRING,
    TIMESTAMP,
    InvalidQuery,
    UnknownSortField,
    parse,
    parse_fields,
    project,
    referenced_fields,
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
WEBHOOK_SHAPES = ("flow", "legacy")
#: the static token's user and role, as a legacy webhook's `accountability` names them
STATIC_USER_ID = "6d2a3f4e-0c51-4b8e-9a47-3f1c2b5d7e90"
STATIC_ROLE_ID = "0f6e1c2d-8b3a-4f57-a2c9-5e4d3b2a1c08"

# Directus' words for the base's generic error codes.
_CODES = {"rate_limited": "REQUESTS_EXCEEDED", "not_found": "ROUTE_NOT_FOUND"}


def _forbidden() -> ApiError:
    return ApiError(HTTPStatus.FORBIDDEN, "forbidden", FORBIDDEN_MESSAGE)


def _as_major_version(value: Any) -> int:
    if value not in (10, 11):
        raise ValueError(f"major_version is 10 or 11, got {value!r}")
    return int(value)


def _as_missing_fields(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(
            isinstance(name, str) and name in SCHEMA and name != "id" for name in value):
        raise ValueError(f"missing_fields lists fields of the collection other than id "
                         f"({', '.join(name for name in SCHEMA if name != 'id')}), "
                         f"got {value!r}")
    return value


class DirectusServer(ReferenceServer):
    name = "directus"
    extra_fault_knobs = {"token_expired": as_bool, "missing_fields": _as_missing_fields,
                         "major_version": _as_major_version}

    items: dict[int, Record]

    def __init__(self, *, token: str = DEFAULT_TOKEN, **options: Any) -> None:
        self.token = token
        # A Flow's request operation sends with axios' own User-Agent.
        self.webhooks = WebhookSender(user_agent="axios/1.7.3")
        self.webhook_shape = "flow"
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
        self.webhook_shape = "flow"
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
        self._check_fields_as_11(request)
        try:
            query = parse(request.query, self._schema(), COLLECTION)
        except InvalidQuery as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, "invalid_query", f"Invalid query. {exc}.",
                           reason=str(exc)) from None
        except UnknownSortField:
            raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_server_error",
                           "An unexpected error occurred.") from None
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
        self._check_fields_as_11(request)
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
            self._emit("create", payload, key=values["id"])
        fields = self._fields(request)
        data = [project(self._shaped(self.items.get(values["id"], values)), fields)
                for values in created]
        return json_response(HTTPStatus.OK, {"data": data if isinstance(body, list) else data[0]})

    def _update(self, request: Request, collection: str, key: str) -> Response:
        self._check_collection(collection)
        payload = request.json()
        with self.lock:
            item = self._find(key)
            changes = self._writable(payload, creating=False, current=item)
            updated = {**item, **changes, "date_updated": self.clock.now()}
            self.items[item["id"]] = updated
        self._emit("update", payload, keys=[key])
        return json_response(HTTPStatus.OK, {"data": project(self._shaped(updated),
                                                             self._fields(request))})

    def _delete(self, request: Request, collection: str, key: str) -> Response:
        self._check_collection(collection)
        with self.lock:
            item = self._find(key)
            del self.items[item["id"]]
        self._emit("delete", [key], keys=[key])
        return Response(HTTPStatus.NO_CONTENT)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _check_collection(collection: str) -> None:
        if collection != COLLECTION:
            raise _forbidden()

    def _schema(self) -> dict[str, str]:
        """The collection's fields: all of SCHEMA but those the `missing_fields` knob drops
        (a collection created without them, as a drifted source is)."""
        missing = self.extra_fault("missing_fields", ())
        return {name: kind for name, kind in SCHEMA.items() if name not in missing}

    def _check_fields_as_11(self, request: Request) -> None:
        """Directus 11 (the `major_version` knob) refuses a query naming a field the
        collection lacks, in `fields`, `sort` or `filter`, with a 403 naming it (seen
        against 11.3.5, admin token included); 10.x answers field by field."""
        if self.extra_fault("major_version", 10) < 11:
            return
        schema = self._schema()
        unknown = next((name for name in referenced_fields(request.query)
                        if name not in schema), None)
        if unknown is not None:
            message = (f'You don\'t have permission to access field "{unknown}" in collection '
                       f'"{COLLECTION}" or it does not exist. Queried in root.')
            raise ApiError(HTTPStatus.FORBIDDEN, "forbidden", message, reason=message)

    def _fields(self, request: Request) -> tuple[str, ...]:
        return parse_fields(request.query, self._schema())

    def _find(self, key: str) -> Record:
        try:
            return self.items[int(key)]
        except (ValueError, KeyError):
            raise _forbidden() from None

    def _shaped(self, item: Record) -> Record:
        """The item as served: only the collection's fields, and without its primary key
        when the `malformed` knob names it."""
        schema = self._schema()
        malformed = self.is_malformed(item["id"])
        return {name: value for name, value in item.items()
                if name in schema and not (malformed and name == "id")}

    def _writable(self, payload: Any, *, creating: bool,
                  current: Record | None = None) -> dict[str, Any]:
        """The payload's writable fields, checked as Directus checks the collection of
        docs/sources.md, which has no validation rules: a field that is not nullable must
        be submitted on create unless it has a default, and may never be null (Directus'
        api/src/permissions/modules/process-payload/process-payload.ts adds `_submitted`
        and `_nnull` rules for exactly these; failures are FAILED_VALIDATION of type
        `required` and `nnull`), and a unique field may not repeat (the database's
        constraint: RECORD_NOT_UNIQUE). Anything else is stored as sent, as Directus stores
        it: an empty or blank name, a status outside the dropdown's choices (choices belong
        to the Data Studio's interface, not to a rule). The product must then read such an
        item as malformed, not trust the source to have refused it."""
        if not isinstance(payload, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "invalid_payload",
                           "Invalid payload. An item must be a JSON object.")
        values = {name: payload[name] for name in WRITABLE if name in payload}
        if creating:
            values.setdefault("status", "active")  # the field's default value
            for name in WRITABLE:
                if name not in values:
                    raise _failed_validation(name, "required", "Value is required.")
        for name, value in values.items():
            if value is None:
                raise _failed_validation(name, "nnull", "Value can't be null.")
        if "email" in values and any(
                other["email"] == values["email"] and other is not current
                for other in self.items.values()):
            raise _not_unique("email")
        return values

    def _emit(self, action: str, payload: Any, **keys: Any) -> None:
        if self.webhook_shape == "legacy":
            self.webhooks.send(legacy_event(action, payload, **keys))
        else:
            self.webhooks.send(flow_event(action, payload, **keys))

    def _configure_webhook(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body.keys() <= {"url", "secret", "header", "shape"}:
            raise ValueError("webhook takes url, secret and optionally header and shape")
        if body.get("url") is None:
            self.webhooks.target = None
            return json_response(HTTPStatus.OK, {"url": None})
        secret, header = body.get("secret"), body.get("header", WEBHOOK_HEADER)
        if not isinstance(secret, str) or not secret or not isinstance(header, str):
            raise ValueError("webhook needs a non-empty secret (and a header name, if given)")
        shape = body.get("shape", "flow")
        if shape not in WEBHOOK_SHAPES:
            raise ValueError(f"webhook shape is one of {', '.join(WEBHOOK_SHAPES)}")
        self.webhooks.target = WebhookTarget(url=str(body["url"]), secret=secret, header=header)
        self.webhook_shape = shape
        return json_response(HTTPStatus.OK, {"url": body["url"], "header": header,
                                             "shape": shape})


def flow_event(action: str, payload: Any, **keys: Any) -> dict[str, Any]:
    """A Flow's `{{$trigger}}` for an items action: the emitter's `{event, ...meta}`
    (api/src/emitter.ts) on the `<collection>.items.<action>` event a Flow listens on
    (api/src/flows.ts), meta as api/src/services/items.ts builds it: create `{payload, key,
    collection}`, update `{payload, keys, collection}`, delete `{payload: keys, keys,
    collection}`. Keys from a URL stay strings; a created item's key is the number the
    database returned. The payload is what the client sent."""
    return {"event": f"{COLLECTION}.items.{action}", "payload": payload, **keys,
            "collection": COLLECTION}


def legacy_event(action: str, payload: Any, **keys: Any) -> dict[str, Any]:
    """What the Webhooks module of Directus 10.x and earlier sent (api/src/webhooks.ts):
    `{event: "items.<action>", accountability: {user, role}, ...meta}`."""
    return {"event": f"items.{action}", "accountability": {"user": STATIC_USER_ID,
                                                            "role": STATIC_ROLE_ID},
            "payload": payload, **keys, "collection": COLLECTION}



def _failed_validation(field: str, rule: str, detail: str, **extra: Any) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "failed_validation",
                    f'Validation failed for field "{field}". {detail}',
                    field=field, type=rule, **extra)


def _not_unique(field: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "record_not_unique",
                    f'Value for field "{field}" in collection "{COLLECTION}" has to be unique.',
                    collection=COLLECTION, field=field)
