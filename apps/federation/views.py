"""The GraphQL endpoint: `/graphql` (unified schema) and `/graphql/<domain>` (subgraphs).

A small view on graphql-core's parse/validate/execute rather than graphene-django's
GraphQLView: every refusal here must happen in a fixed order before any resolver runs
(authenticate -> rate limit -> batch size -> parse with a token limit -> validate with the
limits rules), bad queries must be 400s with GraphQL `errors`, execution needs the
sync-dataloader execution context and our per-request context, and answers go through the
response cache - GraphQLView would need most of its request handling overridden for that.

POST `{"query", "variables", "operationName", "extensions"}` (or a JSON array of them: a
batch) as `application/json`; GET `?query=&variables=&operationName=&extensions=` for queries
only. `extensions.persistedQuery` may name a persisted document by its SHA-256 instead of
`query` (apps/federation/persisted.py).

Status codes follow the GraphQL-over-HTTP spec (graphql.github.io/graphql-over-http), by
the media type the client accepts (`Accept`; neither named, or `*/*`, means
application/json, the spec's default):
- a request that is not a GraphQL request (no JSON object, no query string, variables that
  are not an object) is 400, a body in another media type 415, another method 405 with
  `Allow`; authentication, rate limits and body size keep their own 401/403/429/413;
- a GraphQL request error (the document does not parse or validate, variables do not
  coerce, no operation by that name): no `data`; 400 under
  `application/graphql-response+json`, 200 under `application/json`, where the spec asks
  200 for every well-formed request;
- once execution starts the answer has `data` and is 200, even when an error nulled a
  required root field and `data` is null (a source outage is a field error, not a bad
  request); only a failure of execute() itself, a bug of ours, is a 500.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import graphene
import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
)

from apps.federation import cache, persisted
from apps.federation.auth import AuthError, Principal, authenticate, require_scope
from apps.federation.executor import ExecutionContext
from apps.federation.limits import QueryLimits, check_batch, parse_limited, validate_limits
from apps.federation.loaders import RequestContext
from apps.federation.ratelimit import RateLimited, check_rate
from apps.federation.schema import ENTITY_OF_TYPE, UNCACHED_TYPES, unified_schema
from dictamesh import jsonbody

log = logging.getLogger(__name__)


JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
#: what a POST body may be sent as (the spec's one required request media type)
REQUEST_MEDIA_TYPES = (JSON,)


def _errors(*errors: GraphQLError) -> dict[str, Any]:
    return {"errors": [error.formatted for error in errors]}


def _media_type(request: HttpRequest) -> str:
    """The response media type: the client's preference among the two the spec names.
    application/json comes first so that `*/*` or no Accept at all picks it; an Accept
    naming neither is disregarded (the spec's alternative to a 406)."""
    return request.get_preferred_type([JSON, GRAPHQL_RESPONSE]) or JSON


def _respond(request: HttpRequest, body: Any, status: int,
             headers: dict[str, str] | None = None) -> HttpResponse:
    media_type = _media_type(request)
    # orjson: several times faster than json.dumps on large answers; `str` for the odd
    # value that is not JSON (Django's JSON encoder did the same for dates and decimals).
    response = HttpResponse(orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS),
                            status=status,
                            content_type=f"{media_type}; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _refusal(request: HttpRequest, status: int, code: str, message: str,
             headers: dict[str, str] | None = None) -> HttpResponse:
    return _respond(request, _errors(GraphQLError(message, extensions={"code": code})),
                    status, headers)


@dataclass(frozen=True)
class _Outcome:
    """One operation's answer. ``status`` is its status under
    application/graphql-response+json; a GraphQL ``request_error`` is 200 under
    application/json (see the module's docstring)."""

    status: int
    body: dict[str, Any]
    request_error: bool = False
    headers: dict[str, str] | None = None

    def status_for(self, media_type: str) -> int:
        return 200 if self.request_error and media_type == JSON else self.status


def _request_error(*errors: GraphQLError) -> _Outcome:
    return _Outcome(400, _errors(*errors), request_error=True)


def _masked(error: GraphQLError) -> GraphQLError:
    """An unexpected exception's text is ours, not the consumer's: log it, answer a
    reference the operator can find."""
    if (error.extensions or {}).get("code") or isinstance(error.original_error, GraphQLError) \
            or error.original_error is None:
        return error
    reference = uuid.uuid4().hex[:12]
    log.error("graphql resolver failed (ref %s) at %s", reference, error.path,
              exc_info=error.original_error)
    return GraphQLError(f"Internal error while resolving this field (reference {reference}); "
                        "retry, and report the reference if it persists.",
                        path=error.path, extensions={"code": "INTERNAL_SERVER_ERROR"})


def _is_request_error(result: ExecutionResult) -> bool:
    """Whether execute() refused before executing (variables that do not coerce): then,
    and only then, graphql-core answers no data with errors that have no field path;
    every error of execution is located at the field that raised it."""
    return result.data is None and bool(result.errors) and \
        all(error.path is None for error in result.errors or ())


def _execution_failed(exc: Exception) -> _Outcome:
    """An exception out of execute() itself (a data loader's batch runs outside any
    resolver, so graphql-core cannot turn it into a field error): the same masking, for
    the whole operation, instead of Django's 500 page."""
    reference = uuid.uuid4().hex[:12]
    log.error("graphql execution failed (ref %s)", reference, exc_info=exc)
    return _Outcome(500, {"data": None, **_errors(GraphQLError(
        f"Internal error while executing this operation (reference {reference}); retry, "
        "and report the reference if it persists.",
        extensions={"code": "INTERNAL_SERVER_ERROR"}))})


class GraphQLView(View):
    http_method_names = ["get", "post"]
    schema_factory: Callable[[], graphene.Schema] = staticmethod(unified_schema)
    schema_name = "unified"

    def get(self, request: HttpRequest) -> HttpResponse:
        if "query" not in request.GET and _graphiql_enabled() and \
                "text/html" in request.headers.get("Accept", ""):
            # Vendored, pinned files (static/federation/graphiql): no CDN, works offline.
            return render(request, "federation/graphiql.html")
        return self._serve(request, lambda: dict(request.GET.items()), read_only=True)

    def post(self, request: HttpRequest) -> HttpResponse:
        charset = (request.content_params or {}).get("charset", "utf-8").lower()
        if request.content_type not in REQUEST_MEDIA_TYPES or charset not in ("utf-8", "utf8"):
            sent = request.META.get("CONTENT_TYPE") or "no Content-Type"
            return _refusal(request, 415, "UNSUPPORTED_MEDIA_TYPE",
                            f"The body was sent as {sent}: send it as "
                            "`Content-Type: application/json` (UTF-8).",
                            {"Accept-Post": ", ".join(REQUEST_MEDIA_TYPES)})
        return self._serve(request, lambda: jsonbody.loads(request.body or b"null"),
                           read_only=False)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any,
                                **kwargs: Any) -> HttpResponse:
        allowed = ", ".join(self._allowed_methods())  # type: ignore[attr-defined]
        return _refusal(request, 405, "METHOD_NOT_ALLOWED",
                        f"{request.method} is not served here: use {allowed}.",
                        {"Allow": allowed})

    def _serve(self, request: HttpRequest, payload: Callable[[], Any],
               read_only: bool) -> HttpResponse:
        try:
            principal = authenticate(request)
            body = payload()
            # A batch counts one request per operation against the key's rate limit.
            check_rate(principal, weight=len(body) if isinstance(body, list) and body else 1)
        except AuthError as exc:
            return _refusal(request, exc.status, exc.code, exc.message, exc.headers)
        except RateLimited as exc:
            return _refusal(request, 429, exc.code, str(exc), exc.headers)
        except RequestDataTooBig:
            return _refusal(request, 413, "REQUEST_TOO_LARGE",
                            f"The body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes: "
                            "send a smaller query or fewer operations per batch.")
        except jsonbody.JSONTooDeep as exc:
            return _refusal(request, 400, "BAD_REQUEST", f"The body is not usable: {exc}.")
        except (ValueError, UnicodeDecodeError):
            return _refusal(request, 400, "BAD_REQUEST", "The body is not JSON: send "
                            '{"query": "...", "variables": {...}} as application/json.')
        limits = QueryLimits.for_tenant(principal.tenant)
        if isinstance(body, list):
            try:
                check_batch(body, limits)
            except GraphQLError as exc:
                return _respond(request, _errors(exc), 400)
            outcomes = [self._operation(request, principal, limits, item, read_only)
                        for item in body]
            return _respond(request, [o.body for o in outcomes], 200)
        outcome = self._operation(request, principal, limits, body, read_only)
        return _respond(request, outcome.body, outcome.status_for(_media_type(request)),
                        outcome.headers)

    def _operation(self, request: HttpRequest, principal: Principal, limits: QueryLimits,
                   params: Any, read_only: bool) -> _Outcome:
        if not isinstance(params, dict):
            return _Outcome(400, _errors(GraphQLError(
                'Each operation must be a JSON object {"query", "variables", "operationName"}.',
                extensions={"code": "BAD_REQUEST"})))
        variables = params.get("variables") or None
        if isinstance(variables, str):  # GET sends them as JSON text
            try:
                variables = jsonbody.loads(variables)
            except ValueError:
                variables = "invalid"
        if variables is not None and not isinstance(variables, dict):
            return _Outcome(400, _errors(GraphQLError(
                "`variables` must be a JSON object.", extensions={"code": "BAD_REQUEST"})))
        operation_name = params.get("operationName") or None
        if operation_name is not None and not isinstance(operation_name, str):
            return _Outcome(400, _errors(GraphQLError(
                "`operationName` must be a string.", extensions={"code": "BAD_REQUEST"})))
        try:
            query = persisted.document_for(params, limits.registered_documents_only)
        except persisted.PersistedQueryError as exc:
            refusal = exc.as_graphql_error()
            return _request_error(refusal) if exc.request_error else \
                _Outcome(400, _errors(refusal))
        if not isinstance(query, str):
            return _Outcome(400, _errors(GraphQLError(
                "No query given: send the GraphQL document as a string in `query`.",
                extensions={"code": "BAD_REQUEST"})))
        schema = self.schema_factory().graphql_schema
        try:
            document = parse_limited(query, limits)
        except GraphQLError as exc:
            return _request_error(exc)
        # Scopes first: a read key learns nothing about mutations, not even their errors.
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                needed = "read" if definition.operation == OperationType.QUERY else "write"
                try:
                    require_scope(principal, needed)
                except AuthError as exc:
                    return _Outcome(exc.status, _errors(GraphQLError(
                        exc.message, extensions={"code": exc.code})))
        errors = validate_limits(schema, document, limits, variables,
                                 sdl_allowed="admin" in principal.scopes)
        if errors:
            return _request_error(*errors)
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return _request_error(GraphQLError(
                "Name the operation to run in `operationName`: the document has several "
                "(or none by that name).", extensions={"code": "BAD_REQUEST"}))
        if read_only and operation.operation != OperationType.QUERY:
            return _Outcome(405, _errors(GraphQLError(
                "Only queries may be sent with GET; send mutations with POST.",
                extensions={"code": "METHOD_NOT_ALLOWED"})), headers={"Allow": "POST"})
        return self._execute(request, principal, schema, document, operation,
                             operation_name, variables)

    def _execute(self, request: HttpRequest, principal: Principal, schema: Any,
                 document: DocumentNode, operation: OperationDefinitionNode,
                 operation_name: str | None, variables: dict[str, Any] | None) -> _Outcome:
        key = None
        # Mutations change things; live types (sagas) change with no event to invalidate on.
        # With a TTL of 0 the cache is off: no key, no Redis round trip (a set with timeout
        # 0 is a DEL in Django's cache API).
        if operation.operation == OperationType.QUERY and cache.ttl_seconds() > 0:
            read = cache.types_read(schema, document)
            if not read & UNCACHED_TYPES:
                scope = f"{self.schema_name}:{','.join(sorted(principal.scopes))}"
                key = cache.response_key(scope, document, operation_name, variables,
                                         cache.entity_types_read(schema, document,
                                                                 ENTITY_OF_TYPE, read))
                hit = cache.get(key) if key is not None else None  # None: Redis is down
                if hit is not None:
                    return _Outcome(200, hit)
        context = RequestContext(request=request, scope=",".join(sorted(principal.scopes)))
        try:
            result = execute(schema, document, context_value=context,
                             variable_values=variables, operation_name=operation_name,
                             execution_context_class=ExecutionContext)
        except Exception as exc:  # noqa: BLE001 - every failure is answered, none leaks
            return _execution_failed(exc)
        assert isinstance(result, ExecutionResult)  # sync execution  # noqa: S101
        if _is_request_error(result):
            return _request_error(*result.errors or ())
        errors = [_masked(e) for e in result.errors or ()] + context.degraded
        # Execution started: `data` is in the answer, null when an error reached the root.
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = [e.formatted for e in errors]
        elif key is not None:
            cache.put(key, body)
        return _Outcome(200, body)


def _graphiql_enabled() -> bool:
    return bool(settings.GRAPHQL_GRAPHIQL)
