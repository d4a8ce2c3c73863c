"""A tenant's source descriptions: saving them (checked, versioned, probed live) and the
adapter classes they make.

A description is tenant data, so its adapter class is looked up in the current tenant's
schema; classes are kept per (schema, name, version), so an edited description serves from
the next data product built (saving touches the connections that use it, and the data
products are rebuilt when their connection row changes).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kafka.errors import KafkaError

from apps.adapters import connection_cache
from apps.adapters.base import AdapterError, EntityQuery, SourceConfig
from apps.adapters.declarative.adapter import DeclarativeAdapter, adapter_class
from apps.adapters.declarative.description import (
    Description,
    DescriptionError,
    parse_description,
)
from apps.adapters.models import SourceConnection, SourceDescription, SourceDescriptionVersion
from apps.adapters.registry import adapter_classes
from apps.tenancy.services import tenant_partition_tiers
from dictamesh.events.topics import TopicProvisioningError, provision_source_topics
from dictamesh.health.redact import redact_userinfo
from dictamesh.tenancy import current_schema

log = logging.getLogger(__name__)
#: adapter classes by (schema, name, version, spec text); bounded, as edits add versions
_classes: LRUCache[tuple[str, str, int, str], type[DeclarativeAdapter]] = LRUCache(256)
_classes_lock = threading.Lock()


def declared_adapter_class(name: str) -> type[DeclarativeAdapter] | None:
    """The adapter class of the current tenant's description ``name``, or None."""
    row = SourceDescription.objects.filter(name=name).values_list("spec", "version").first()
    if row is None:
        return None
    spec, version = row
    # The spec's text is part of the key: a version number alone can come back with other
    # content (a rolled-back transaction, a restored backup).
    key = (current_schema(), name, version, json.dumps(spec, sort_keys=True))
    with _classes_lock:
        found = _classes.get(key)
    if found is None:
        found = adapter_class(name, parse_description(spec), version)
        with _classes_lock:
            _classes[key] = found
    return found


def declared_names() -> list[str]:
    return list(SourceDescription.objects.values_list("name", flat=True))


def description_versions() -> tuple[tuple[str, int, str], ...]:
    """(name, version, saved at) of every description of the current tenant: one cheap
    query that tells whether what was built from them is current (the time too: a version
    number can come back with other content after a rollback)."""
    return tuple((name, version, saved.isoformat()) for name, version, saved in
                 SourceDescription.objects.order_by("name").values_list(
                     "name", "version", "updated_at"))


def declared_descriptions() -> list[tuple[str, Description]]:
    """Every description of the current tenant, checked, by name (a description that no
    longer parses, say after a format change, is left out rather than break the API)."""
    found = []
    for name, spec in SourceDescription.objects.values_list("name", "spec"):
        try:
            found.append((name, parse_description(spec)))
        except DescriptionError:
            continue
    return found


@dataclass(frozen=True)
class SavedDescription:
    description: SourceDescription
    changed: bool  # False: the same spec was saved again (no new version)


def save_description(name: str, spec: Any, *, saved_by: str = "",
                     probe: bool = True) -> SavedDescription:
    """:func:`check_description`, then :func:`store_description`."""
    check_description(name, spec, probe=probe)
    return store_description(name, spec, saved_by=saved_by)


def check_description(name: str, spec: Any, *, probe: bool = True) -> Description:
    """Check ``spec`` and probe it live against every enabled connection that uses
    ``name`` (unless ``probe`` is off); DescriptionError names what is wrong."""
    if name in adapter_classes():
        raise DescriptionError("name", f"{name!r} is the name of a built-in adapter; choose "
                                       "another name for the description.")
    description = parse_description(spec)
    for other, spec_of_other in SourceDescription.objects.exclude(name=name).values_list(
            "name", "spec"):
        if isinstance(spec_of_other, dict) and \
                spec_of_other.get("entity_type") == description.entity_type:
            raise DescriptionError("entity_type", f"{description.entity_type!r} is served by "
                                                  f"the description {other!r} already; one "
                                                  "source serves each entity type.")
    for connection in SourceConnection.objects.filter(adapter=name, enabled=True):
        if probe:
            probe_connection(adapter_class(name, description), connection)
    return description


def store_description(name: str, spec: Any, *, saved_by: str = "") -> SavedDescription:
    """Store a checked ``spec`` as the next version of description ``name`` (nothing new
    when it is the current version's)."""
    with transaction.atomic():
        row = SourceDescription.objects.select_for_update().filter(name=name).first()
        if row is not None and row.spec == spec:
            return SavedDescription(row, changed=False)
        if row is None:
            row = SourceDescription.objects.create(name=name, spec=spec)
        else:
            row.spec, row.version = spec, row.version + 1
            row.save()
        SourceDescriptionVersion.objects.create(description=row, version=row.version,
                                                spec=spec, saved_by=saved_by)
        # Data products are rebuilt when their connection row changes.
        SourceConnection.objects.filter(adapter=name).update(updated_at=timezone.now())
        connection_cache.forget()  # an update() passes by SourceConnection.save()
    return SavedDescription(row, changed=True)


def config_of(connection: SourceConnection) -> SourceConfig:
    return SourceConfig(name=connection.name, base_url=connection.base_url,
                        credentials=connection.credentials, options=connection.options)


def probe_declared(connection: SourceConnection, *, probe: bool = True) -> None:
    """When ``connection``'s adapter is a description: probe its source (see :func:`probe`;
    unless ``probe`` is off) and make sure its change topic exists (the topic spec lists
    only the code adapters')."""
    declared = declared_adapter_class(connection.adapter)
    if declared is None or not connection.enabled:
        return
    if probe:
        probe_connection(declared, connection)
    if settings.KAFKA_PROVISION_TOPICS_ON_ONBOARD:
        try:
            tenant = current_schema()
            provision_source_topics(tenant, declared.domain, declared.name,
                                    partition_tier=tenant_partition_tiers([tenant]).get(tenant))
        except (TopicProvisioningError, KafkaError) as exc:
            # Not a reason to refuse the connection: the source answered. Saving the
            # connection again once Kafka answers creates the topics.
            log.warning("could not create the topics of %s: %s", declared.name, exc)


def probe_connection(cls: type[DeclarativeAdapter], connection: SourceConnection) -> None:
    """:func:`probe` of ``connection``'s source read as ``cls`` says; the error names the
    connection too."""
    try:
        adapter = cls(config_of(connection))
    except (AdapterError, ValueError) as exc:  # a missing credential, a bad option
        raise DescriptionError("auth", f"connection {connection.name!r}: {exc}") from None
    try:
        probe(adapter)
    except DescriptionError as exc:
        raise DescriptionError(exc.field, f"probing connection {connection.name!r} "
                                          f"({redact_userinfo(connection.base_url)}): "
                                          f"{exc.message}") from None
    finally:
        adapter.close()


def probe(adapter: DeclarativeAdapter) -> None:
    """A live check of a description against its source: list one page, map a record, read
    it back by id (and by ids). DescriptionError says which part of the description (or
    the connection) does not fit what the source answered."""
    entity_type = adapter.description.entity_type
    try:
        page = adapter.query_entities(entity_type, EntityQuery(page_size=2))
    except AdapterError as exc:
        raise DescriptionError("list", f"listing {adapter.description.list['path']} failed: "
                                       f"{exc}") from None
    if page.malformed:
        raise DescriptionError("fields", f"a listed record does not fit: {page.malformed[0]}")
    if not page.entities:
        return  # nothing to read back; the listing itself answered as described
    sample = page.entities[0]
    try:
        again = adapter.get_entity(entity_type, sample.id)
    except AdapterError as exc:
        raise DescriptionError("get", f"reading {sample.id!r} back failed: {exc}") from None
    if again is None or again.id != sample.id:
        raise DescriptionError("get", f"reading {sample.id!r} back by "
                                      f"{adapter.description.get['path']} found no such "
                                      "record; check get.path and get.record.")
    if adapter.description.by_ids is not None:
        try:
            found = adapter.query_entities(entity_type, EntityQuery(ids=[sample.id]))
        except AdapterError as exc:
            raise DescriptionError("by_ids", f"reading {sample.id!r} by ids failed: "
                                             f"{exc}") from None
        if [e.id for e in found.entities] != [sample.id]:
            raise DescriptionError("by_ids", f"asking for {sample.id!r} by "
                                             f"{adapter.description.by_ids['param']} did not "
                                             "answer that record; check by_ids.param.")
