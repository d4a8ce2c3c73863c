"""The schema registry's public API: the only door other apps (and the REST API) use.

Subjects hold numbered versions of schemas; a schema has one global id whichever subjects
it is registered under. Compatibility rules are not decided here: they come from
``dictamesh.events.compatibility``. Every function works in the public schema, whichever
tenant is active. Results are the frozen values of ``contracts.py``; failures are the typed
errors of ``errors.py`` (each carries its Confluent error code).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, Max, OuterRef, QuerySet
from django_tenants.utils import get_public_schema_name, schema_context

from apps.catalog.schema_registry.contracts import (
    LATEST,
    RegisteredSchema,
    SchemaReference,
    SubjectSchema,
    SubjectVersionRef,
    Version,
)
from apps.catalog.schema_registry.errors import (
    IdDoesNotMatch,
    IncompatibleSchema,
    InvalidCompatibilityLevel,
    InvalidMode,
    InvalidSchema,
    InvalidSubject,
    InvalidVersion,
    OperationNotPermitted,
    ReferenceExists,
    SchemaNotFound,
    SchemaRegistryError,
    StoreError,
    SubjectCompatibilityNotConfigured,
    SubjectModeNotConfigured,
    SubjectNotFound,
    SubjectNotSoftDeleted,
    SubjectSoftDeleted,
    VersionNotFound,
    VersionNotSoftDeleted,
    VersionSoftDeleted,
)
from apps.catalog.schema_registry.models import (
    DEFAULT_COMPATIBILITY,
    DEFAULT_MODE,
    RegistryConfig,
    Schema,
    Subject,
    SubjectVersion,
)
from apps.catalog.schema_registry.models import SchemaReference as ReferenceRow
from apps.tenancy.services import record_audit
from dictamesh.events import compatibility

logger = logging.getLogger(__name__)

SCHEMA_TYPES = ("AVRO",)
# READWRITE: the default. READONLY: no registrations or deletions. IMPORT: registrations
# keep the ids (and versions) another registry gave them, with no compatibility check.
MODES = ("READWRITE", "READONLY", "IMPORT")
# The one context this registry has (Confluent's default context).
CONTEXTS = (".",)
MAX_VERSION = 2**31 - 1  # Confluent's bound: versions are Java ints
MAX_SUBJECT_LENGTH = 255
# References of references...: deeper than this is a mistake, not a design.
MAX_REFERENCE_DEPTH = 32

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class _Candidate:
    """A schema offered by a caller, validated and fingerprinted."""

    text: str
    schema_type: str
    parsed: dict[str, Any] | compatibility.WithReferences
    canonical: str
    fingerprint: str
    references: tuple[SchemaReference, ...]


def _in_public_schema(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` in the public schema and turn database failures into ``StoreError``.

    A new ``schema_context`` per call: a single shared instance (``@schema_context(...)``)
    stores the previous tenant on itself and so is not safe across threads.
    """

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with schema_context(get_public_schema_name()):
                return func(*args, **kwargs)
        except DatabaseError as exc:
            logger.exception("schema registry store error in %s", func.__name__)
            raise StoreError("Error in the backend data store") from exc

    return wrapper


# --- Parsing --------------------------------------------------------------------------------


def parse_version(value: str | int) -> Version:
    """A version id from a URL: 1..2^31-1, or "latest" (also spelt -1, as Confluent allows)."""
    text = str(value).strip().lower()
    if text in {LATEST, "-1"}:
        return LATEST
    try:
        number = int(text)
    except ValueError:
        raise InvalidVersion(value) from None
    if not 1 <= number <= MAX_VERSION:
        raise InvalidVersion(value)
    return number


def _prepare(
    schema_str: str, schema_type: str, references: Sequence[SchemaReference] = ()
) -> _Candidate:
    if schema_type not in SCHEMA_TYPES:
        raise InvalidSchema(
            f"Unsupported schema type '{schema_type}': this registry accepts "
            + ", ".join(SCHEMA_TYPES)
        )
    referenced = _referenced_schemas(references)
    try:
        parsed = compatibility.validate_schema(
            schema_str, [json.loads(row.canonical) for row in referenced])
    except compatibility.InvalidSchema as exc:
        raise InvalidSchema(f"Invalid schema: {exc}") from exc
    # Equal JSON, however formatted, is the same schema; field order is kept (lists).
    canonical = json.dumps(json.loads(schema_str), sort_keys=True, separators=(",", ":"))
    identity = f"{schema_type}\n{canonical}"
    if references:  # the same text with other references is another schema (Confluent)
        identity += "\n" + json.dumps([[ref.name, ref.subject, ref.version]
                                       for ref in references])
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()
    return _Candidate(schema_str, schema_type, parsed, canonical, fingerprint,
                      tuple(references))


def _referenced_schemas(references: Sequence[SchemaReference]) -> list[Schema]:
    """The schemas ``references`` name, and theirs, each before any that uses it."""
    ordered: dict[int, Schema] = {}

    def visit(subject: str, version: int, depth: int) -> None:
        if depth > MAX_REFERENCE_DEPTH:
            raise InvalidSchema(f"Schema references nest deeper than {MAX_REFERENCE_DEPTH}")
        found = (SubjectVersion.objects.select_related("schema")
                 .filter(subject__name=subject, version=version).first())
        if found is None:
            raise InvalidSchema(
                f"Invalid schema: the reference to subject '{subject}' version {version} "
                "names no registered version; register the referenced schema first"
            )
        if found.schema_id in ordered:
            return
        for ref in found.schema.references.all():
            visit(ref.subject, ref.version, depth + 1)
        ordered[found.schema_id] = found.schema

    for ref in references:
        visit(ref.subject, ref.version, 1)
    return list(ordered.values())


def _references_of(schema: Schema) -> tuple[SchemaReference, ...]:
    return tuple(SchemaReference(name=row.name, subject=row.subject, version=row.version)
                 for row in schema.references.all())


def _normalise_level(level: object) -> str:
    name = level.strip().upper() if isinstance(level, str) else ""
    if name not in compatibility.COMPATIBILITY_LEVELS:
        raise InvalidCompatibilityLevel(sorted(compatibility.COMPATIBILITY_LEVELS))
    return name


def _normalise_mode(mode: object) -> str:
    name = mode.strip().upper() if isinstance(mode, str) else ""
    if name not in MODES:
        raise InvalidMode(MODES)
    return name


def _check_subject_name(name: str) -> None:
    if not name or len(name) > MAX_SUBJECT_LENGTH or any(ord(c) < 32 or c == "\x7f" for c in name):
        raise InvalidSubject(name)


# --- Queries shared by the operations -------------------------------------------------------


def _live(versions: QuerySet[SubjectVersion]) -> QuerySet[SubjectVersion]:
    return versions.filter(deleted=False)


def _subjects_with_versions(include_deleted: bool) -> QuerySet[Subject]:
    versions = SubjectVersion.objects.filter(subject=OuterRef("pk"))
    if not include_deleted:
        versions = _live(versions)
    return Subject.objects.filter(Exists(versions))


def _get_subject(name: str, include_deleted: bool = False) -> Subject:
    """The subject, if it has (live, unless ``include_deleted``) versions."""
    subject = _subjects_with_versions(include_deleted).filter(name=name).first()
    if subject is None:
        raise SubjectNotFound(name)
    return subject


def _lock_subject(name: str) -> Subject | None:
    """The subject row, locked until the transaction ends: writers of one subject queue."""
    return Subject.objects.select_for_update().filter(name=name).first()


_DEFAULTS = {"compatibility": DEFAULT_COMPATIBILITY, "mode": DEFAULT_MODE}


def _global_setting(field: str) -> str:
    """The global "compatibility" or "mode"."""
    value = RegistryConfig.objects.filter(pk=1).values_list(field, flat=True).first()
    return value or _DEFAULTS[field]


def _setting(
    subject: str | None,
    field: str,
    default_to_global: bool,
    not_configured: Callable[[str], SchemaRegistryError],
) -> str:
    """The global setting (``subject=None``) or the subject's own; ``not_configured`` if it
    has none, unless ``default_to_global``, as Confluent's ``GET /config|mode/{subject}``."""
    if subject is None:
        return _global_setting(field)
    own = Subject.objects.filter(name=subject).values_list(field, flat=True).first()
    if own:
        return str(own)
    if default_to_global:
        return _global_setting(field)
    raise not_configured(subject)


def _store_setting(subject: str | None, field: str, value: str) -> None:
    if subject is None:
        RegistryConfig.objects.update_or_create(pk=1, defaults={field: value})
    else:
        _check_subject_name(subject)
        Subject.objects.update_or_create(name=subject, defaults={field: value})


def _drop_setting(subject: str, field: str) -> str:
    """Remove a subject's own setting (the global one applies again); the old value."""
    with transaction.atomic():
        row = _lock_subject(subject)
        previous = getattr(row, field) if row is not None else None
        if not previous:
            raise SubjectNotFound(subject)
        setattr(row, field, None)
        row.save(update_fields=[field])  # type: ignore[union-attr]
    return str(previous)


def _global_level() -> str:
    return _global_setting("compatibility")


def _effective_level(subject: Subject | None) -> str:
    if subject is not None and subject.compatibility:
        return subject.compatibility
    return _global_level()


def _global_mode() -> str:
    return _global_setting("mode")


def _effective_mode(subject: Subject | None) -> str:
    if subject is not None and subject.mode:
        return subject.mode
    return _global_mode()


def _require_writable(subject: Subject) -> str:
    """The subject's mode, unless it is READONLY (then ``OperationNotPermitted``)."""
    mode = _effective_mode(subject)
    if mode == "READONLY":
        raise OperationNotPermitted(
            f"Subject '{subject.name}' is in read-only mode: set its mode (PUT "
            f"/mode/{subject.name}) or the global one to READWRITE to change it"
        )
    return mode


def _sync_deleted_flag(subject: Subject) -> None:
    versions = subject.versions.all()
    deleted = versions.exists() and not _live(versions).exists()
    if subject.deleted != deleted:
        subject.deleted = deleted
        subject.save(update_fields=["deleted"])


def _parsed(schema: Schema) -> Any:
    """A stored schema for ``compatibility``: with its references' schemas if it has any.

    Stored schemas were validated on the way in: their canonical JSON needs no re-check.
    """
    parsed = json.loads(schema.canonical)
    references = _references_of(schema)
    if not references:
        return parsed
    return compatibility.WithReferences(
        parsed, tuple(json.loads(row.canonical) for row in _referenced_schemas(references)))


def _subject_schema(version: SubjectVersion, subject: str) -> SubjectSchema:
    return SubjectSchema(subject=subject, version=version.version, id=version.schema.id,
                         schema=version.schema.schema, schema_type=version.schema.schema_type,
                         references=_references_of(version.schema))


# --- Registering and reading ----------------------------------------------------------------


@_in_public_schema
def register(
    subject: str,
    schema_str: str,
    schema_type: str = "AVRO",
    *,
    references: Sequence[SchemaReference] = (),
    schema_id: int | None = None,
    version: int | None = None,
) -> int:
    """Register ``schema_str`` under ``subject`` and return its global id.

    Idempotent: a schema already live in the subject returns its id and adds no version.
    A new version must satisfy the subject's compatibility level against its live versions,
    unless the subject is in IMPORT mode: then ``schema_id`` and ``version`` (optional)
    keep the numbers another registry gave them, and no compatibility is checked.
    ``references``: the named types the schema takes from other subjects' versions.
    """
    _check_subject_name(subject)
    candidate = _prepare(schema_str, schema_type, references)
    with transaction.atomic():
        # Locked (or created, hence ours) until commit: registrations to one subject queue
        # here, so two writers can never number the same version.
        row, _ = Subject.objects.select_for_update().get_or_create(name=subject)
        importing = _require_writable(row) == "IMPORT"
        if not importing and (schema_id is not None or version is not None):
            raise OperationNotPermitted(
                f"Subject '{subject}' is not in IMPORT mode: an id or version may be given "
                f"only when importing (PUT /mode/{subject} with mode IMPORT first)"
            )
        live = list(_live(row.versions.all()).select_related("schema")
                    .prefetch_related("schema__references").order_by("version"))
        for existing in live:
            if existing.schema.fingerprint == candidate.fingerprint:
                if schema_id is not None and schema_id != existing.schema.id:
                    raise IdDoesNotMatch(schema_id, existing.schema.id)
                return existing.schema.id
        if not importing:
            level = _effective_level(row)
            reasons = compatibility.check(
                candidate.parsed, [_parsed(existing.schema) for existing in live], level,
                versions=[existing.version for existing in live],
            )
            if reasons:
                raise IncompatibleSchema(level, reasons)
        if version is None:
            version = (row.versions.aggregate(latest=Max("version"))["latest"] or 0) + 1
        elif row.versions.filter(version=version).exists():
            raise OperationNotPermitted(
                f"Version {version} of subject '{subject}' already exists: import this "
                "schema as another version, or delete that one permanently first"
            )
        schema = _schema_row(candidate, schema_id)
        SubjectVersion.objects.create(subject=row, version=version, schema=schema)
        if row.deleted:
            row.deleted = False
            row.save(update_fields=["deleted"])
        record_audit("registry.schema_registered", object_type="subject", object_id=subject,
                     after=candidate.fingerprint,
                     detail={"version": version, "schema_id": schema.id})
    return schema.id


def _audited(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record a registry write once it succeeded, with its subject and arguments."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result = func(*args, **kwargs)
            subject, *rest = [*args, *kwargs.values()] or [None]
            record_audit(action, object_type="subject", object_id=subject or "(global)",
                         after=result, detail={"arguments": [str(a) for a in rest],
                                               "result": str(result)})
            return result
        return wrapper
    return decorate


def _schema_row(candidate: _Candidate, schema_id: int | None) -> Schema:
    """The stored schema for ``candidate``, created if new: with the next free id, or with
    ``schema_id`` (an import), which must not be another schema's."""
    fields = {"schema": candidate.text, "canonical": candidate.canonical,
              "schema_type": candidate.schema_type}
    existing = Schema.objects.filter(fingerprint=candidate.fingerprint).first()
    if schema_id is None:
        if existing is not None:
            return existing
        _lock_ids(exclusive=False)
        # get_or_create: the same new schema may be registering under another subject.
        schema, created = Schema.objects.get_or_create(
            fingerprint=candidate.fingerprint, defaults={**fields, "id": _next_schema_id()})
        if created:
            _store_references(schema, candidate.references)
        return schema
    if existing is not None:
        if existing.id != schema_id:
            raise IdDoesNotMatch(schema_id, existing.id)
        return existing
    _lock_ids(exclusive=True)
    if Schema.objects.filter(pk=schema_id).exists():
        raise OperationNotPermitted(
            f"Overwrite new schema with id {schema_id} is not permitted: that id holds "
            "another schema. Import this one with a free id, or without an id"
        )
    schema = Schema.objects.create(id=schema_id, fingerprint=candidate.fingerprint, **fields)
    _store_references(schema, candidate.references)
    return schema


def _lock_ids(exclusive: bool) -> None:
    """Imports take ids anywhere, new schemas the sequence's next free one: an import
    waits for the registrations in flight and they for it (until commit), so neither
    picks an id the other is inserting. Registrations do not wait for each other."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(hashtext('schema_registry_schema_ids'))")


def _next_schema_id() -> int:
    """The sequence's next id that no import has taken.

    Imports keep other registries' ids, which may lie anywhere up to 2^31-1; the sequence
    is never moved past them (one import of a high id would leave no ids for new
    schemas), it skips them, in growing steps through a long run of imported ids.
    """
    batch = 1
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                           "FROM generate_series(1, %s)", [Schema._meta.db_table, batch])
            ids = sorted(row[0] for row in cursor.fetchall())
        taken = set(Schema.objects.filter(pk__in=ids).values_list("id", flat=True))
        free = [number for number in ids if number not in taken]
        if free:
            return free[0]
        batch = min(batch * 10, 10_000)


def _store_references(schema: Schema, references: Sequence[SchemaReference]) -> None:
    ReferenceRow.objects.bulk_create(
        ReferenceRow(schema=schema, position=position, name=ref.name, subject=ref.subject,
                     version=ref.version)
        for position, ref in enumerate(references)
    )


@_in_public_schema
def lookup(
    subject: str,
    schema_str: str,
    schema_type: str = "AVRO",
    include_deleted: bool = False,
    references: Sequence[SchemaReference] = (),
) -> SubjectSchema:
    """The version of ``subject`` holding this schema (the newest if several)."""
    candidate = _prepare(schema_str, schema_type, references)
    row = _get_subject(subject, include_deleted)
    versions = row.versions.filter(schema__fingerprint=candidate.fingerprint)
    if not include_deleted:
        versions = _live(versions)
    found = versions.select_related("schema").order_by("-version").first()
    if found is None:
        raise SchemaNotFound()
    return _subject_schema(found, subject)


@_in_public_schema
def get_by_id(schema_id: int) -> RegisteredSchema:
    """The schema with this global id, while any subject version (even soft-deleted) uses it.

    Soft-deleted versions keep their schema readable: messages already on Kafka carry the id.
    """
    schema = Schema.objects.filter(pk=schema_id, subject_versions__isnull=False).first()
    if schema is None:
        raise SchemaNotFound(f"Schema {schema_id} not found")
    return RegisteredSchema(id=schema.id, schema=schema.schema, schema_type=schema.schema_type,
                            references=_references_of(schema))


@_in_public_schema
def referenced_schemas(schema_id: int) -> list[str]:
    """The texts of the schemas that schema ``schema_id`` references, transitively, each
    before any that uses its types ([] for a self-contained schema): what a reader needs
    besides the schema itself."""
    schema = Schema.objects.filter(pk=schema_id).first()
    if schema is None:
        raise SchemaNotFound(f"Schema {schema_id} not found")
    return [row.schema for row in _referenced_schemas(_references_of(schema))]


def _referrers(subject: str, version: int, include_deleted: bool) -> list[int]:
    """Ids of the schemas referring to that version and used by a (live) subject version."""
    users = SubjectVersion.objects.filter(schema=OuterRef("schema"))
    if not include_deleted:
        users = _live(users)
    return sorted(set(ReferenceRow.objects.filter(subject=subject, version=version)
                      .filter(Exists(users)).values_list("schema_id", flat=True)))


@_in_public_schema
def referenced_by(subject: str, version: Version) -> list[int]:
    """Ids of the schemas in use that refer to that version of ``subject``."""
    number = _find_version(subject, version, include_deleted=False).version
    return _referrers(subject, number, include_deleted=False)


def _refuse_if_referenced(subject: str, versions: Sequence[int], permanent: bool) -> None:
    # A soft delete keeps the schemas readable, so only live users block it; a permanent
    # one also waits for soft-deleted users, whose messages may still be on Kafka.
    for number in versions:
        referrers = _referrers(subject, number, include_deleted=permanent)
        if referrers:
            raise ReferenceExists(subject, number, referrers)


@_in_public_schema
def get_versions_by_id(schema_id: int, include_deleted: bool = False) -> list[SubjectVersionRef]:
    """Every (subject, version) pair registered with this global id."""
    versions = SubjectVersion.objects.filter(schema_id=schema_id)
    if not versions.exists():
        raise SchemaNotFound(f"Schema {schema_id} not found")
    if not include_deleted:
        versions = _live(versions)
    return [
        SubjectVersionRef(subject=name, version=number)
        for name, number in versions.order_by("subject__name", "version")
        .values_list("subject__name", "version")
    ]


@_in_public_schema
def get_version(subject: str, version: Version, include_deleted: bool = False) -> SubjectSchema:
    return _subject_schema(_find_version(subject, version, include_deleted), subject)


def _find_version(subject: str, version: Version, include_deleted: bool) -> SubjectVersion:
    row = _get_subject(subject, include_deleted)
    versions = row.versions.select_related("schema")
    if not include_deleted:
        versions = _live(versions)
    if version == LATEST:
        found = versions.order_by("-version").first()
    else:
        found = versions.filter(version=version).first()
    if found is None:
        raise VersionNotFound(version)
    return found


@_in_public_schema
def list_subjects(include_deleted: bool = False) -> list[str]:
    return list(_subjects_with_versions(include_deleted).order_by("name")
                .values_list("name", flat=True))


@_in_public_schema
def list_versions(subject: str, include_deleted: bool = False) -> list[int]:
    versions = _get_subject(subject, include_deleted).versions.all()
    if not include_deleted:
        versions = _live(versions)
    return list(versions.order_by("version").values_list("version", flat=True))


# --- Deleting -------------------------------------------------------------------------------


@_audited("registry.version_deleted")
@_in_public_schema
def delete_version(subject: str, version: Version, permanent: bool = False) -> int:
    """Soft-delete a version, or permanently delete one that was soft-deleted first."""
    with transaction.atomic():
        row = _lock_subject(subject)
        if row is None or not row.versions.exists():
            raise SubjectNotFound(subject)
        _require_writable(row)
        versions = row.versions.all()
        if version == LATEST:
            found = (versions if permanent else _live(versions)).order_by("-version").first()
        else:
            found = versions.filter(version=version).first()
        if found is None:
            raise VersionNotFound(version)
        _refuse_if_referenced(subject, [found.version], permanent)
        if permanent:
            if not found.deleted:
                raise VersionNotSoftDeleted(subject, found.version)
            found.delete()
        else:
            if found.deleted:
                raise VersionSoftDeleted(subject, found.version)
            found.deleted = True
            found.save(update_fields=["deleted"])
        _sync_deleted_flag(row)
    return found.version


@_audited("registry.subject_deleted")
@_in_public_schema
def delete_subject(subject: str, permanent: bool = False) -> list[int]:
    """Soft-delete every live version; or, once soft-deleted, remove the subject entirely.

    Returns the version numbers deleted. A permanent delete also drops the subject's
    compatibility setting, as Confluent does.
    """
    with transaction.atomic():
        row = _lock_subject(subject)
        versions = list(row.versions.order_by("version").values_list("version", "deleted")
                        if row is not None else [])
        if row is None or not versions:
            raise SubjectNotFound(subject)
        _require_writable(row)
        live = [number for number, deleted in versions if not deleted]
        _refuse_if_referenced(subject, [number for number, _ in versions] if permanent
                              else live, permanent)
        if permanent:
            if live:
                raise SubjectNotSoftDeleted(subject)
            row.delete()
            return [number for number, _ in versions]
        if not live:
            raise SubjectSoftDeleted(subject)
        _live(row.versions.all()).update(deleted=True)
        _sync_deleted_flag(row)
    return live


@_in_public_schema
def delete_tenant_subjects(slug: str) -> list[str]:
    """Remove, permanently, every subject of a tenant's topics (``<slug>.<topic>-key|value``)
    once the tenant is offboarded: a new tenant of the same slug starts with no versions
    and no compatibility settings. Schemas (global ids) stay, as Confluent keeps them."""
    with transaction.atomic():
        subjects = Subject.objects.select_for_update().filter(name__startswith=f"{slug}.")
        names = list(subjects.values_list("name", flat=True))
        subjects.delete()
    if names:
        logger.info("deleted %d subjects of offboarded tenant %s", len(names), slug)
    return names


# --- Modes ---------------------------------------------------------------------------------


@_in_public_schema
def get_mode(subject: str | None = None, default_to_global: bool = False) -> str:
    """The global mode (``subject=None``), or the subject's own mode (else
    ``SubjectModeNotConfigured``, unless ``default_to_global``)."""
    return _setting(subject, "mode", default_to_global, SubjectModeNotConfigured)


@_in_public_schema
def set_mode(subject: str | None, mode: str, force: bool = False) -> str:
    """Set the global mode (``subject=None``) or a subject's; returns the mode set.

    IMPORT is for filling an empty registry (or subject) from another: refused where
    versions exist, unless ``force``.
    """
    name = _normalise_mode(mode)
    with transaction.atomic():
        if name == "IMPORT" and not force:
            versions = SubjectVersion.objects.all()
            if subject is not None:
                versions = versions.filter(subject__name=subject)
            if versions.exists():
                raise OperationNotPermitted(
                    "Cannot import since found existing subjects: import into an empty "
                    "registry or subject, or add ?force=true to import beside them"
                )
        _store_setting(subject, "mode", name)
    return name


@_in_public_schema
def delete_mode(subject: str) -> str:
    """Remove a subject's own mode (the global one applies again); returns the old mode."""
    return _drop_setting(subject, "mode")


# --- Compatibility --------------------------------------------------------------------------


@_in_public_schema
def get_compatibility(subject: str | None = None, default_to_global: bool = False) -> str:
    """The global level (``subject=None``), or the subject's own level (else
    ``SubjectCompatibilityNotConfigured``, unless ``default_to_global``)."""
    return _setting(subject, "compatibility", default_to_global,
                    SubjectCompatibilityNotConfigured)


@_audited("registry.compatibility_set")
@_in_public_schema
def set_compatibility(subject: str | None, level: str) -> str:
    """Set the global level (``subject=None``) or a subject's level; returns the level set."""
    name = _normalise_level(level)
    _store_setting(subject, "compatibility", name)
    return name


@_audited("registry.compatibility_deleted")
@_in_public_schema
def delete_compatibility(subject: str) -> str:
    """Remove a subject's own level (the global one applies again); returns the old level."""
    return _drop_setting(subject, "compatibility")


def _transitive_note(level: str, numbers: list[int]) -> str:
    listed = ", ".join(str(number) for number in numbers)
    return (f"{level} is transitive: the schema was checked against every live version "
            f"({listed}), not only the latest")


@_in_public_schema
def test_compatibility(
    subject: str,
    version: Version | None,
    schema_str: str,
    schema_type: str = "AVRO",  # noqa: PT028 - named by the registry API; not a pytest test
    references: Sequence[SchemaReference] = (),  # noqa: PT028 - as above
) -> tuple[bool, list[str]]:
    """Would ``schema_str`` be compatible with ``subject``, under the subject's level?

    ``version`` None: against the versions the level names (the latest, or every live
    version for a _TRANSITIVE level), as Confluent's ``POST .../versions``. "latest" means
    the same here (Confluent checks the latest only, even at a transitive level, and so
    answers "compatible" for a schema it will then refuse to register). A version number:
    against that version alone. A subject without live versions accepts anything. The
    messages name the versions that fail, and, at a transitive level, say that every
    version was checked.
    """
    candidate = _prepare(schema_str, schema_type, references)
    row = Subject.objects.filter(name=subject).first()
    if version is None or version == LATEST:
        live = [] if row is None else list(
            _live(row.versions.all()).select_related("schema")
            .prefetch_related("schema__references").order_by("version"))
        if not live:
            return True, []
        level = _effective_level(row)
        targets = live if level.endswith("_TRANSITIVE") else live[-1:]
        notes = [_transitive_note(level, [v.version for v in live])] if len(targets) > 1 else []
    else:
        row = _get_subject(subject)
        existing = _live(row.versions.all()).select_related("schema").filter(
            version=version).first()
        if existing is None:
            raise VersionNotFound(version)
        # One named version: the level's direction applies to that pair only.
        level, targets, notes = _effective_level(row).removesuffix("_TRANSITIVE"), [existing], []
    reasons = compatibility.check(candidate.parsed, [_parsed(v.schema) for v in targets], level,
                                  versions=[v.version for v in targets])
    return not reasons, notes + reasons
