"""Customers from a Directus collection, over the Directus REST API.

Connection settings: ``credentials["token"]`` (a static token, sent as a bearer token);
``options``: ``collection`` (default "customers"), ``webhook_header`` (default
"X-Directus-Webhook-Secret"), ``change_batch_size`` (default 200), ``health_slow_ms``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from apps.adapters.base import (
    CanonicalEntity,
    ChangeBatch,
    ChangeType,
    EntityPage,
    EntityQuery,
    HealthState,
    HealthStatus,
    IdListing,
    InvalidQuery,
    MalformedRecord,
    ServiceLevel,
    SourceChange,
    SourceConfig,
)
from apps.adapters.cursors import PositionCursor, decode_cursor, encode_cursor
from apps.adapters.directus import mapping, webhook
from apps.adapters.directus.client import (
    MAX_KEYS_PER_CALL,
    MAX_PAGE_SIZE,
    DirectusItems,
    items_of,
)
from apps.adapters.http_connection import header, secrets_match
from apps.adapters.http_source import HttpSourceAdapter, unique

DEFAULT_WEBHOOK_HEADER = "X-Directus-Webhook-Secret"
#: how Directus 11 refuses a field it does not have (or the token may not read)
_FIELD_REFUSED = re.compile(r'access field "(?P<field>[^"]+)" in collection')
_PAGE = "directus-page"
_CHANGES = PositionCursor("directus-changes", key_field="id", key_type=int)


class DirectusAdapter(HttpSourceAdapter):
    name = "directus"
    domain = "customers"
    schema = mapping.SCHEMA
    ids_per_call = MAX_KEYS_PER_CALL

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        options = config.options
        self.collection = str(options.get("collection", "customers"))
        self.webhook_header = str(options.get("webhook_header", DEFAULT_WEBHOOK_HEADER))
        self.items = DirectusItems(self.http, self.collection)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential('token')}"}

    # -- reading ---------------------------------------------------------------------------

    def source_id(self, entity_id: str) -> str | None:
        key = mapping.directus_key(entity_id)
        return None if key is None else str(key)

    def fetch_record(self, entity_id: str) -> Any:
        found = self.fetch_records([entity_id])
        return found[0] if found else None

    def fetch_records(self, ids: Sequence[str]) -> list[Any]:
        return self.items.by_keys([int(key) for key in ids])

    def record_position(self, record: Any) -> mapping.Position | None:
        return mapping.position(record)

    def to_entity(self, record: Any, record_id: str | None = None) -> CanonicalEntity:
        return mapping.to_customer(record, self.config.name, record_id)

    def check_filters(self, filters: Mapping[str, Any]) -> None:
        known = (*mapping.FILTERABLE, *mapping.COMPARISONS)
        unknown = [name for name in filters if name not in known]
        if unknown:
            raise InvalidQuery(f"Customers cannot be filtered by {unknown[0]!r}; filter by "
                               f"{', '.join(known)}.")

    def query_page(self, query: EntityQuery) -> EntityPage:
        """Pages in primary-key order, the cursor being the last key served (keyset, so a
        deletion while paging cannot make a later page skip an item); ``total`` is
        Directus' `filter_count` of the first page, carried in the cursor to the others
        (a later page's count would be of the items after its key)."""
        conditions = [mapping.filter_rule(name, value) for name, value in query.filters.items()]
        position = decode_cursor(query.cursor, _PAGE) if query.cursor else {}
        after, carried = position.get("after"), position.get("total")
        if after is not None:
            if not isinstance(after, int):
                raise InvalidQuery(f"{query.cursor!r:.40} is not a page cursor of this adapter.")
            conditions.append({"id": {"_gt": after}})
        limit = max(1, min(query.page_size, MAX_PAGE_SIZE))
        # One more than asked: proof that a next page exists, without a count query.
        data, total = self.items.list({"_and": conditions} if conditions else None,
                                      sort=("id",), limit=limit + 1, count=after is None)
        if after is not None:
            total = carried if isinstance(carried, int) else None
        page = data[:limit]
        next_cursor = None
        if len(data) > limit:
            # The last readable key: an item without one is served again next page, and
            # skipped again, rather than risking a gap.
            last = next((key for item in reversed(page)
                         if (key := mapping.directus_key(_get(item, "id"))) is not None), None)
            if last is None:
                raise MalformedRecord(f"A page of {limit} Directus items has no readable id; "
                                      "paging cannot go on past it.")
            next_cursor = encode_cursor(_PAGE, after=last, total=total)
        return self.map_listed(page, self.to_entity, next_cursor, total)

    def list_ids(self, entity_type: str) -> IdListing:
        """Every primary key, ``fields=id`` in keyset pages of MAX_PAGE_SIZE: a few bytes
        an item, so a deletion sweep every few polls stays cheap."""
        self.check_entity_type(entity_type)
        ids: set[str] = set()
        after: int | None = None
        for _ in range(self.max_id_listing_pages):
            data, _ = self.items.list({"id": {"_gt": after}} if after is not None else None,
                                      sort=("id",), limit=MAX_PAGE_SIZE, fields=("id",))
            keys = [mapping.directus_key(_get(item, "id")) for item in data]
            if None in keys:  # an item we cannot name might be any cached customer
                return IdListing(frozenset(ids), complete=False)
            ids.update(str(key) for key in keys)
            if len(data) < MAX_PAGE_SIZE:
                return IdListing(frozenset(ids), complete=True)
            after = max(key for key in keys if key is not None)
        return IdListing(frozenset(ids), complete=False)

    # -- change detection ------------------------------------------------------------------

    def stream_changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Changes in (effective update time, id) order; the cursor is the last pair
        delivered, so items sharing a timestamp are neither skipped nor repeated.

        Directus cannot sort by "date_updated, or date_created when null", so each batch
        reads the updated items (by date_updated, id) and the never-updated ones (by
        date_created, id) and merges them. Deletions come only from the webhook.
        """
        after = _CHANGES.decode(cursor)[0] if cursor else None
        while True:
            changes, after, complete = self._changes_after(after)
            yield ChangeBatch(changes, _CHANGES.encode(after) if after else cursor, complete)
            if complete:
                return

    def _changes_after(self, after: mapping.Position | None) -> tuple[
            list[SourceChange], mapping.Position | None, bool]:
        """One batch after ``after``: its changes, the position of its last item, and
        whether nothing more is known to follow."""
        limit = self.change_batch_size
        updated = _keyset("date_updated", after) if after else {"date_updated": {"_nnull": True}}
        never_updated = {"_and": [{"date_updated": {"_null": True}},
                                  *([_keyset("date_created", after)] if after else [])]}
        placed: list[tuple[mapping.Position, Any]] = []
        bound: mapping.Position | None = None  # items past it may not have been read yet
        for rule, field in ((updated, "date_updated"), (never_updated, "date_created")):
            data, _ = self.items.list(rule, sort=(field, "id"), limit=limit)
            stream = [(where, item) for item in data if (where := self.change_position(item))]
            placed += stream
            if len(data) >= limit:  # a full answer: more may follow its last item
                if not stream:
                    raise MalformedRecord(f"{limit} Directus items in a row have no readable "
                                          "id or timestamps; change detection cannot pass them.")
                bound = stream[-1][0] if bound is None else min(bound, stream[-1][0])
        placed.sort(key=lambda pair: pair[0])
        if bound is not None:
            placed = [pair for pair in placed if pair[0] <= bound]
        taken = placed[:limit]
        changes = [change for _, item in taken if (change := self._change(item)) is not None]
        last = taken[-1][0] if taken else after
        return changes, last, bound is None and len(placed) <= limit

    def _change(self, item: Any, change_type: ChangeType | None = None,
                changed_fields: tuple[str, ...] = ()) -> SourceChange | None:
        return self.map_or_report(item, lambda record: mapping.to_change(
            record, self.config.name, change_type, changed_fields))

    # -- webhooks (Directus Flows) ---------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], secret: str) -> bool:
        """Whether the request carries the shared secret (compared in constant time)."""
        return secrets_match(header(headers, self.webhook_header), secret)

    def changes_from_webhook(self, body: Mapping[str, Any]) -> list[SourceChange]:
        """The changes a Directus Flow (or legacy webhook) reports; every shape is read (see
        :mod:`apps.adapters.directus.webhook`). Created and updated items are fetched (one
        call per 100 keys), since an update's payload holds only the changed fields; a key
        gone by then is left to its own delete event. Events of other collections are not
        ours: no changes."""
        event = webhook.parse(body)
        if event.collection != self.collection:
            return []
        ours = unique(key for key in map(mapping.directus_key, event.keys) if key is not None)
        if event.action == "delete":
            now = datetime.now(tz=UTC)
            return [SourceChange(ChangeType.DELETED, mapping.ENTITY_TYPE, str(key), None, now)
                    for key in ours]
        change_type = ChangeType.CREATED if event.action == "create" else ChangeType.UPDATED
        # An update's payload holds exactly the fields the update changed.
        payload = event.payload if isinstance(event.payload, dict) else {}
        changed: tuple[str, ...] = () if change_type is ChangeType.CREATED else \
            mapping.changed_attributes(payload)
        return [change for item in self.records_of([str(key) for key in ours])
                if (change := self._change(item, change_type, changed)) is not None]

    # -- what the platform knows about this source -----------------------------------------

    def get_sla(self) -> ServiceLevel:
        # Webhooks make changes near-immediate; polling every minute backs them up.
        return ServiceLevel(freshness_seconds=60, availability=0.995, latency_p99_ms=500)

    def health_request(self) -> tuple[str, Mapping[str, Any]]:
        # A one-item read, not /server/ping: ping is public, so it cannot see a revoked token;
        # and every field we map, so a field the collection lost shows (see health_sample).
        return self.items.path, {"limit": 1, "fields": ",".join(mapping.FIELDS)}

    def health_sample(self, body: Any) -> list[Any]:
        return items_of(body, self.items.path)

    def health_check(self) -> HealthStatus:
        """As every source's, and: Directus 11 refuses a whole query naming a field the
        collection lacks (403 "access field ... or it does not exist"), where 10.x leaves
        the field out. Either way it is the collection, or the token's access to one
        field, that is wrong, not the token: DEGRADED, naming the field."""
        status = super().health_check()
        refused = _FIELD_REFUSED.search(status.detail)
        if status.state is HealthState.DOWN and refused:
            return HealthStatus(HealthState.DEGRADED, (
                f"Directus refuses the field {refused['field']!r} of {self.collection!r}: the "
                "collection lacks it (schema drift?) or the token's role may not read it. "
                f"Add the field, or grant read on it. ({status.detail})"), status.latency_ms)
        return status


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else None


def _keyset(field: str, after: mapping.Position) -> dict[str, Any]:
    """Items strictly after ``after`` in (field, id) order."""
    moment, key = after
    at = moment.isoformat()
    return {"_or": [{field: {"_gt": at}},
                    {"_and": [{field: {"_eq": at}}, {"id": {"_gt": key}}]}]}
