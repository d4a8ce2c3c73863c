"""The Confluent Schema Registry REST API over ``services``: parse, call, map errors.

Paths, bodies, query flags and error codes follow Confluent's API so that standard Kafka
clients and tools work unchanged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.catalog.schema_registry import services
from apps.catalog.schema_registry.auth import (
    WWW_AUTHENTICATE,
    RegistryPrincipal,
    authenticate_registry,
)
from apps.catalog.schema_registry.contracts import SchemaReference, SubjectSchema
from apps.catalog.schema_registry.errors import (
    Forbidden,
    InvalidSchema,
    SchemaNotFound,
    SchemaRegistryError,
    Unauthorized,
)
from dictamesh import jsonbody

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPTED_CONTENT_TYPES = frozenset({
    CONTENT_TYPE,
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",  # Confluent's "generic request" type
})


class _BadRequest(Exception):
    """A request body the API cannot read (rest-utils answers these with plain codes)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _respond(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def _error(status: int, error_code: int, message: str) -> HttpResponse:
    return _respond({"error_code": error_code, "message": message}, status=status)


def _registry_error(exc: SchemaRegistryError) -> HttpResponse:
    # Confluent codes are the HTTP status followed by two digits (409 stands alone).
    code = exc.error_code
    response = _error(code if code < 1000 else code // 100, code, exc.message)
    if isinstance(exc, Unauthorized):
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def _flag(request: HttpRequest, name: str) -> bool:
    return request.GET.get(name, "").strip().lower() == "true"


def _read_body(request: HttpRequest) -> dict[str, Any]:
    content_type = request.content_type or ""
    if content_type and content_type not in ACCEPTED_CONTENT_TYPES:
        raise _BadRequest(415, f"HTTP 415 Unsupported Media Type: {content_type}")
    try:
        body = jsonbody.loads(request.body or b"null")
    except RequestDataTooBig:
        raise _BadRequest(413, "The request body is over "
                          f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest(400, f"The request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _BadRequest(422, "The request body must be a JSON object")
    return body


@dataclass(frozen=True)
class _SchemaRequest:
    """The body of a register, lookup or compatibility request."""

    schema: str
    schema_type: str
    references: tuple[SchemaReference, ...]
    body: dict[str, Any]


_REFERENCE_HELP = ('each reference is {"name": "<full name of the type>", "subject": '
                   '"<subject>", "version": <version number>}')


def _reference(item: Any) -> SchemaReference:
    if not isinstance(item, dict):
        raise InvalidSchema(f"Invalid schema reference {item!r}: {_REFERENCE_HELP}")
    name, subject, version = item.get("name"), item.get("subject"), item.get("version")
    if not (isinstance(name, str) and name and isinstance(subject, str) and subject
            and type(version) is int and 1 <= version <= services.MAX_VERSION):
        raise InvalidSchema(f"Invalid schema reference {json.dumps(item)[:200]}: "
                            f"{_REFERENCE_HELP}")
    return SchemaReference(name=name, subject=subject, version=version)


def _schema_request(request: HttpRequest, principal: RegistryPrincipal) -> _SchemaRequest:
    body = _read_body(request)
    schema = body.get("schema")
    if not isinstance(schema, str) or not schema.strip():
        raise InvalidSchema("Empty schema: the request body needs a 'schema' string")
    schema_type = body.get("schemaType") or "AVRO"
    if not isinstance(schema_type, str):
        raise InvalidSchema("'schemaType' must be a string")
    items = body.get("references") or []
    if not isinstance(items, list):
        raise InvalidSchema(f"'references' must be a list: {_REFERENCE_HELP}")
    references = tuple(_reference(item) for item in items)
    for reference in references:  # a tenant's types are not another tenant's to use
        principal.require_read(reference.subject)
    return _SchemaRequest(schema, schema_type, references, body)


def _references_body(references: tuple[SchemaReference, ...]) -> dict[str, Any]:
    # Confluent leaves "references" out when there are none.
    if not references:
        return {}
    return {"references": [{"name": ref.name, "subject": ref.subject, "version": ref.version}
                           for ref in references]}


def _schema_fields(schema: str, schema_type: str,
                   references: tuple[SchemaReference, ...] = ()) -> dict[str, Any]:
    fields: dict[str, Any] = {"schema": schema}
    if schema_type != "AVRO":  # Confluent leaves schemaType out for Avro, the default
        fields["schemaType"] = schema_type
    return fields | _references_body(references)


def _subject_schema_body(found: SubjectSchema) -> dict[str, Any]:
    return {"subject": found.subject, "version": found.version, "id": found.id,
            **_schema_fields(found.schema, found.schema_type, found.references)}


@method_decorator(csrf_exempt, name="dispatch")
class RegistryView(View):
    """Authenticates and authorises, then maps typed errors to Confluent error bodies.

    ``write_methods`` lists the methods that change the registry: the subject's tenant's
    curators and write keys (a view without a subject: platform admins). The others are
    reads of the subject, including POSTs that only look things up (auth.py).
    """

    write_methods: frozenset[str] = frozenset()
    principal: RegistryPrincipal

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = (request.method or "").lower()
        try:
            self.principal = authenticate_registry(request)
            subject = kwargs.get("subject")
            if method in self.write_methods:
                self.principal.require_write(subject)
            elif subject is not None:
                self.principal.require_read(subject)
            return super().dispatch(request, *args, **kwargs)
        except SchemaRegistryError as exc:
            return _registry_error(exc)
        except _BadRequest as exc:
            return _error(exc.status, exc.status, exc.message)
        except Exception:
            # A bug, not bad input: logged with its traceback; the client still gets the
            # JSON its registry client can parse, as Confluent answers 50001.
            logger.exception("schema registry %s %s failed", request.method, request.path)
            return _error(500, 50001, "Internal error of the schema registry: it is logged; "
                                      "retry, or report it if it persists")

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = _error(405, 405, "HTTP 405 Method Not Allowed")
        response["Allow"] = ", ".join(
            m.upper() for m in self.http_method_names if hasattr(self, m)
        )
        return response


class SubjectListView(RegistryView):
    def get(self, request: HttpRequest) -> HttpResponse:
        subjects = services.list_subjects(include_deleted=_flag(request, "deleted"))
        return _respond([name for name in subjects if self.principal.may_read(name)])


class SubjectView(RegistryView):
    write_methods = frozenset({"delete"})

    def post(self, request: HttpRequest, subject: str) -> HttpResponse:
        wanted = _schema_request(request, self.principal)
        found = services.lookup(subject, wanted.schema, wanted.schema_type,
                                include_deleted=_flag(request, "deleted"),
                                references=wanted.references)
        return _respond(_subject_schema_body(found))

    def delete(self, request: HttpRequest, subject: str) -> HttpResponse:
        return _respond(services.delete_subject(subject, permanent=_flag(request, "permanent")))


def _import_number(body: dict[str, Any], name: str) -> int | None:
    """An ``id`` or ``version`` an import keeps; absent (or Confluent's -1/0): none."""
    value = body.get(name)
    if value is None or value in (-1, 0):
        return None
    if type(value) is not int or not 1 <= value <= services.MAX_VERSION:
        raise InvalidSchema(f"'{name}' must be an integer between 1 and 2^31-1")
    return value


def _require_platform_admin(principal: RegistryPrincipal, action: str) -> None:
    # Ids are global: a tenant choosing them could take ids other tenants' imports need.
    if not principal.is_platform_admin:
        raise Forbidden(f"Forbidden: only platform admins {action}.")


class SubjectVersionListView(RegistryView):
    write_methods = frozenset({"post"})

    def get(self, request: HttpRequest, subject: str) -> HttpResponse:
        return _respond(
            services.list_versions(subject, include_deleted=_flag(request, "deleted"))
        )

    def post(self, request: HttpRequest, subject: str) -> HttpResponse:
        wanted = _schema_request(request, self.principal)
        schema_id = _import_number(wanted.body, "id")
        version = _import_number(wanted.body, "version")
        if schema_id is not None or version is not None:
            _require_platform_admin(self.principal, "import schemas with their ids")
        return _respond({"id": services.register(
            subject, wanted.schema, wanted.schema_type, references=wanted.references,
            schema_id=schema_id, version=version)})


class SubjectVersionView(RegistryView):
    write_methods = frozenset({"delete"})

    def get(self, request: HttpRequest, subject: str, version: str) -> HttpResponse:
        found = services.get_version(subject, services.parse_version(version),
                                     include_deleted=_flag(request, "deleted"))
        return _respond(_subject_schema_body(found))

    def delete(self, request: HttpRequest, subject: str, version: str) -> HttpResponse:
        deleted = services.delete_version(subject, services.parse_version(version),
                                          permanent=_flag(request, "permanent"))
        return _respond(deleted)


class ReferencedByView(RegistryView):
    def get(self, request: HttpRequest, subject: str, version: str) -> HttpResponse:
        ids = services.referenced_by(subject, services.parse_version(version))
        return _respond([schema_id for schema_id in ids
                         if _readable_schema(self.principal, schema_id)])


class SubjectVersionSchemaView(RegistryView):
    def get(self, request: HttpRequest, subject: str, version: str) -> HttpResponse:
        found = services.get_version(subject, services.parse_version(version),
                                     include_deleted=_flag(request, "deleted"))
        # The schema itself is the body, not a JSON string holding it.
        return HttpResponse(found.schema, content_type=CONTENT_TYPE)


def _schema_id(text: str) -> int:
    """A schema id from the path; anything but a positive integer is no schema's id."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) < 1:
        raise SchemaNotFound(f"Schema {text} not found: schema ids are positive integers")
    return int(text)


def _readable_schema(principal: RegistryPrincipal, schema_id: int) -> bool:
    """A schema is readable through any subject the caller may read that uses it: equal
    schemas of two tenants share an id, and neither learns the other's subjects."""
    refs = services.get_versions_by_id(schema_id, include_deleted=True)
    return any(principal.may_read(ref.subject) for ref in refs)


def _require_readable_schema(principal: RegistryPrincipal, schema_id: int) -> None:
    if not _readable_schema(principal, schema_id):
        raise SchemaNotFound(f"Schema {schema_id} not found")


class SchemaByIdView(RegistryView):
    def get(self, request: HttpRequest, schema_id: str) -> HttpResponse:
        found_id = _schema_id(schema_id)
        _require_readable_schema(self.principal, found_id)
        found = services.get_by_id(found_id)
        return _respond(_schema_fields(found.schema, found.schema_type, found.references))


class SchemaTextByIdView(RegistryView):
    def get(self, request: HttpRequest, schema_id: str) -> HttpResponse:
        found_id = _schema_id(schema_id)
        _require_readable_schema(self.principal, found_id)
        # The schema itself is the body, as for .../versions/{version}/schema.
        return HttpResponse(services.get_by_id(found_id).schema, content_type=CONTENT_TYPE)


class SchemaSubjectsByIdView(RegistryView):
    def get(self, request: HttpRequest, schema_id: str) -> HttpResponse:
        found_id = _schema_id(schema_id)
        _require_readable_schema(self.principal, found_id)
        refs = services.get_versions_by_id(found_id, include_deleted=_flag(request, "deleted"))
        return _respond(list(dict.fromkeys(ref.subject for ref in refs
                                           if self.principal.may_read(ref.subject))))


class SchemaVersionsByIdView(RegistryView):
    def get(self, request: HttpRequest, schema_id: str) -> HttpResponse:
        found_id = _schema_id(schema_id)
        _require_readable_schema(self.principal, found_id)
        refs = services.get_versions_by_id(found_id, include_deleted=_flag(request, "deleted"))
        return _respond([{"subject": ref.subject, "version": ref.version} for ref in refs
                         if self.principal.may_read(ref.subject)])


class SchemaTypesView(RegistryView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return _respond(list(services.SCHEMA_TYPES))


class CompatibilityView(RegistryView):
    """``.../versions/{version}``, or ``.../versions``: the versions the level names."""

    def post(self, request: HttpRequest, subject: str, version: str | None = None) -> HttpResponse:
        wanted = _schema_request(request, self.principal)
        compatible, messages = services.test_compatibility(
            subject, None if version is None else services.parse_version(version),
            wanted.schema, wanted.schema_type, references=wanted.references,
        )
        body: dict[str, Any] = {"is_compatible": compatible}
        if _flag(request, "verbose"):  # Confluent sends the reasons only when asked
            body["messages"] = messages
        return _respond(body)


def _requested_level(request: HttpRequest) -> str:
    # An absent or non-string level reaches the service, which rejects it with 42203.
    return _read_body(request).get("compatibility") or ""


class GlobalConfigView(RegistryView):
    write_methods = frozenset({"put"})

    def get(self, request: HttpRequest) -> HttpResponse:
        return _respond({"compatibilityLevel": services.get_compatibility()})

    def put(self, request: HttpRequest) -> HttpResponse:
        level = services.set_compatibility(None, _requested_level(request))
        return _respond({"compatibility": level})


class SubjectConfigView(RegistryView):
    write_methods = frozenset({"put", "delete"})

    def get(self, request: HttpRequest, subject: str) -> HttpResponse:
        level = services.get_compatibility(
            subject, default_to_global=_flag(request, "defaultToGlobal")
        )
        return _respond({"compatibilityLevel": level})

    def put(self, request: HttpRequest, subject: str) -> HttpResponse:
        level = services.set_compatibility(subject, _requested_level(request))
        return _respond({"compatibility": level})

    def delete(self, request: HttpRequest, subject: str) -> HttpResponse:
        return _respond({"compatibilityLevel": services.delete_compatibility(subject)})


def _requested_mode(request: HttpRequest) -> str:
    # An absent or non-string mode reaches the service, which rejects it with 42204.
    return _read_body(request).get("mode") or ""


class GlobalModeView(RegistryView):
    write_methods = frozenset({"put"})

    def get(self, request: HttpRequest) -> HttpResponse:
        return _respond({"mode": services.get_mode()})

    def put(self, request: HttpRequest) -> HttpResponse:
        mode = services.set_mode(None, _requested_mode(request), force=_flag(request, "force"))
        return _respond({"mode": mode})


class SubjectModeView(RegistryView):
    write_methods = frozenset({"put", "delete"})

    def get(self, request: HttpRequest, subject: str) -> HttpResponse:
        mode = services.get_mode(subject, default_to_global=_flag(request, "defaultToGlobal"))
        return _respond({"mode": mode})

    def put(self, request: HttpRequest, subject: str) -> HttpResponse:
        requested = _requested_mode(request)
        if isinstance(requested, str) and requested.strip().upper() == "IMPORT":
            _require_platform_admin(self.principal, "put subjects in IMPORT mode")
        mode = services.set_mode(subject, requested, force=_flag(request, "force"))
        return _respond({"mode": mode})

    def delete(self, request: HttpRequest, subject: str) -> HttpResponse:
        return _respond({"mode": services.delete_mode(subject)})


class ContextListView(RegistryView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return _respond(list(services.CONTEXTS))


@method_decorator(csrf_exempt, name="dispatch")
class NotFoundView(View):
    """Any path under the registry that names no endpoint: JSON, as clients expect."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return _error(404, 404, "HTTP 404 Not Found")
