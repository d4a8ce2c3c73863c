"""The skeleton the JSON-over-HTTP source adapters share: an adapter is its source's API
calls and its mapping, and this class does the rest the same way for all of them.

- ``get_entity``: one record by id, None when the source answers 404 (or has no record).
- ``query_entities`` by ids: unique ids, ``ids_per_call`` at a time, in the order asked.
- ``get_schema``, change batch sizing (the ``change_batch_size`` option), metrics, the
  health probe, and the skip-and-report rule for malformed records in list answers.

The connection lives in :mod:`apps.adapters.http_connection`, strict record reading in
:mod:`apps.adapters.record_reader`, cursors in :mod:`apps.adapters.cursors`.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from apps.adapters.base import (
    CanonicalEntity,
    DataProductAdapter,
    EntityPage,
    EntityQuery,
    EntitySchema,
    HealthStatus,
    InvalidQuery,
    MalformedRecord,
    RequestRejected,
    SourceAuthError,
    SourceConfig,
)
from apps.adapters.cursors import Position
from apps.adapters.http_connection import SourceHttp

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: changes per batch of stream_changes, unless the connection's options say otherwise
DEFAULT_CHANGE_BATCH_SIZE = 200


def unique(values: Iterable[T]) -> list[T]:
    """The values without repeats, in their first order."""
    return list(dict.fromkeys(values))


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class HttpSourceAdapter(DataProductAdapter):
    """The parts of an HTTP source adapter that do not depend on the source's API.

    Malformed records: a lookup of one entity (``get_entity``) raises MalformedRecord, since
    that is the answer to what was asked. A list answer (ids, pages, change batches, webhook
    fetches) skips the malformed record and reports it (a WARNING log naming record and
    fields, ``malformed_records`` and ``recent_malformed`` in get_metrics): one bad record
    must not hide the good ones, nor stall change detection for the whole source. The
    skipped record comes back once it is fixed, since fixing it changes its update time.
    """

    #: the canonical schema of the one entity type the adapter serves (which names it:
    #: ``entity_types`` follows from it)
    schema: ClassVar[EntitySchema]
    #: ids per by-ids call: the API's documented maximum
    ids_per_call: ClassVar[int] = 100

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "schema"):
            cls.entity_types = (cls.schema.entity_type,)

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.http = SourceHttp(config, self.name, self.auth_headers())
        self.change_batch_size = self.option_number("change_batch_size",
                                                    DEFAULT_CHANGE_BATCH_SIZE)

    # -- what each source adapter says --------------------------------------------------------

    @abc.abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate every request (from ``self.config.credentials``)."""

    @abc.abstractmethod
    def health_request(self) -> tuple[str, Mapping[str, Any]]:
        """The path and parameters of a cheap, authenticated GET for health_check."""

    @abc.abstractmethod
    def to_entity(self, record: Any, record_id: str | None = None) -> CanonicalEntity:
        """The canonical entity of one source record, or MalformedRecord."""

    @abc.abstractmethod
    def fetch_record(self, entity_id: str) -> Any:
        """The source record of one id; None (or a 404) when there is none."""

    @abc.abstractmethod
    def fetch_records(self, ids: Sequence[str]) -> list[Any]:
        """The source records of at most ``ids_per_call`` ids, in one call; ids the source
        does not know are simply absent."""

    @abc.abstractmethod
    def query_page(self, query: EntityQuery) -> EntityPage:
        """One page of the entities matching ``query.filters`` (already checked)."""

    @abc.abstractmethod
    def record_position(self, record: Any) -> Position | None:
        """Where a source record sits in change order; None when that cannot be read."""

    def check_filters(self, filters: Mapping[str, Any]) -> None:
        """Raise InvalidQuery for a filter the source cannot apply (default: any goes)."""

    def source_id(self, entity_id: str) -> str | None:
        """The id as the source spells it, or None when it cannot name a record."""
        return entity_id or None

    # -- the shared readings --------------------------------------------------------------

    def get_entity(self, entity_type: str, entity_id: str) -> CanonicalEntity | None:
        self.check_entity_type(entity_type)
        if self.source_id(entity_id) is None:
            return None
        try:
            record = self.fetch_record(entity_id)
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise
        return None if record is None else self.to_entity(record, entity_id)

    def query_entities(self, entity_type: str, query: EntityQuery) -> EntityPage:
        """By ids: ``ids_per_call`` ids a call, entities in the order asked. Otherwise one
        page of the source's listing (see each adapter's ``query_page``). Malformed
        records are skipped and reported (see above)."""
        self.check_entity_type(entity_type)
        self.check_filters(query.filters)
        if query.ids is None:
            return self.query_page(query)
        if query.filters:
            raise InvalidQuery(f"Query {entity_type} entities by ids or by filters, not both.")
        keys = unique(key for key in map(self.source_id, query.ids) if key is not None)
        found = self.map_listed(self.records_of(keys), self.to_entity)
        order = {key: n for n, key in enumerate(keys)}
        found.entities.sort(key=lambda entity: order.get(entity.id, len(order)))
        return replace(found, total=len(found.entities))

    def records_of(self, keys: Sequence[str]) -> list[Any]:
        """The source records of ``keys`` (source ids), ``ids_per_call`` keys a call."""
        records: list[Any] = []
        for batch in chunks(keys, self.ids_per_call):
            records += self.fetch_records(batch)
        return records

    def get_schema(self, entity_type: str) -> EntitySchema:
        self.check_entity_type(entity_type)
        return self.schema

    # -- connection settings --------------------------------------------------------------

    def credential(self, key: str) -> str:
        value = self.config.credentials.get(key)
        if not value:
            raise SourceAuthError(f"Connection {self.config.name!r} has no {key!r} credential; "
                                  f"the {self.name} adapter needs one.")
        return value

    def option_number(self, name: str, default: int) -> int:
        """A positive whole-number option of the connection, or its default."""
        value = self.config.options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Connection {self.config.name!r}: option {name!r} must be a "
                             f"whole number >= 1, got {value!r}.")
        return value

    def close(self) -> None:
        """Close the pooled connections; the instance must not be used afterwards."""
        self.http.close()

    # -- health, metrics and malformed records ------------------------------------------

    def get_metrics(self) -> dict[str, Any]:
        return self.http.metrics.snapshot()

    def health_sample(self, body: Any) -> list[Any]:
        """The source records in the health request's answer, mapped as a sample so that
        schema drift (a field the source no longer has) shows in health; MalformedRecord
        when the answer has no record list. Default: no sample."""
        return []

    def health_check(self) -> HealthStatus:
        """The probe of :meth:`health_request`, DEGRADED when a record of its answer does
        not map: every record would then be skipped as malformed, so the source serves
        nothing although it answers."""
        slow_ms = self.option_number("health_slow_ms", self.get_sla().latency_p99_ms)
        path, params = self.health_request()
        return self.http.probe(path, params, slow_ms, inspect=self._sample_problem)

    def _sample_problem(self, body: Any) -> str | None:
        try:
            for record in self.health_sample(body):
                self.to_entity(record)
        except MalformedRecord as exc:
            return (f"Records of {self.config.name!r} do not map (schema drift?): {exc} If a "
                    "field is missing from every record, add it to the source or fix the "
                    "connection's options.")
        return None

    def map_listed(self, records: Iterable[Any], to_entity: Callable[[Any], CanonicalEntity],
                   next_cursor: str | None = None, total: int | None = None) -> EntityPage:
        """A page of every record that maps; malformed ones are skipped, reported (see
        above) and listed in the page's ``malformed``."""
        mapped, malformed = [], []
        for record in records:
            try:
                mapped.append(to_entity(record))
            except MalformedRecord as exc:
                self.report_malformed(exc)
                malformed.append(exc)
        return EntityPage(mapped, next_cursor, total, tuple(malformed))

    def map_or_report(self, record: Any, to_value: Callable[[Any], T]) -> T | None:
        """``to_value(record)``, or None when the record is malformed (then reported)."""
        try:
            return to_value(record)
        except MalformedRecord as exc:
            self.report_malformed(exc)
            return None

    def change_position(self, record: Any) -> Position | None:
        """Where a record sits in change order; None when its key or time cannot be read,
        and then it is reported as malformed (it does not map either: mapping it says
        what is wrong)."""
        where = self.record_position(record)
        if where is None:
            self.map_or_report(record, self.to_entity)
        return where

    def report_malformed(self, error: MalformedRecord) -> None:
        self.http.metrics.malformed(error)
        if self.on_malformed is not None:
            self.on_malformed(error)
        logger.warning("skipping malformed record: %s", error,
                       extra={"source": self.config.name, "record_id": error.record_id})
