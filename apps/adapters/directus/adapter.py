"""Customers from a Directus collection, over the Directus REST API.

Connection settings: ``credentials["token"]`` (a static token, sent as a bearer token);
``options``: ``collection`` (default "customers"), ``webhook_header`` (default
"X-Directus-Webhook-Secret"), ``change_batch_size`` (default 200), ``health_slow_ms``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from apps.adapters.base import (
    CanonicalEntity,
    ChangeBatch,
    ChangeType,
    EntityPage,
    EntityQuery,
    EntitySchema,
    Lineage,
    MalformedRecord,
    ServiceLevel,
    SourceChange,
    SourceConfig,
)
from apps.adapters.directus import mapping
from apps.adapters.directus.client import MAX_PAGE_SIZE, DirectusItems
from apps.adapters.http_source import (
    HttpSourceAdapter,
    InvalidQuery,
    decode_cursor,
    encode_cursor,
    header,
    parse_timestamp,
    secrets_match,
    unique,
)

DEFAULT_WEBHOOK_HEADER = "X-Directus-Webhook-Secret"
DEFAULT_CHANGE_BATCH_SIZE = 200
WEBHOOK_EVENTS = ("items.create", "items.update", "items.delete")
_PAGE, _CHANGES = "directus-page", "directus-changes"


class DirectusAdapter(HttpSourceAdapter):
    name = "directus"
    entity_types = (mapping.ENTITY_TYPE,)
    domain = "customers"
    topic_source = "directus"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        options = config.options
        self.collection = str(options.get("collection", "customers"))
        self.webhook_header = str(options.get("webhook_header", DEFAULT_WEBHOOK_HEADER))
        self.change_batch_size = self.option_number("change_batch_size",
                                                    DEFAULT_CHANGE_BATCH_SIZE)
        self.items = DirectusItems(self.http, self.collection)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential('token')}"}

    # -- reading ---------------------------------------------------------------------------

    def get_entity(self, entity_type: str, entity_id: str) -> CanonicalEntity | None:
        self.check_entity_type(entity_type)
        key = mapping.directus_key(entity_id)
        found = self.items.by_keys([key]) if key is not None else []
        return mapping.to_customer(found[0], self.config.name, entity_id) if found else None

    def query_entities(self, entity_type: str, query: EntityQuery) -> EntityPage:
        """By ids: one call per 100 ids, entities in the order asked. By filter: pages in
        primary-key order, the cursor being the last key served (keyset, so a deletion
        while paging cannot make a later page skip an item); ``total`` on the first page.
        Malformed items are skipped and reported (see HttpSourceAdapter)."""
        self.check_entity_type(entity_type)
        if query.ids is not None:
            if query.filters:
                raise InvalidQuery("Query customers by ids or by filters, not both.")
            keys = unique(key for key in map(mapping.directus_key, query.ids) if key is not None)
            found = self.map_listed(self.items.by_keys(keys), self._to_customer)
            order = {str(key): n for n, key in enumerate(keys)}
            found.entities.sort(key=lambda entity: order.get(entity.id, len(order)))
            return replace(found, total=len(found.entities))
        return self._page(query)

    def _page(self, query: EntityQuery) -> EntityPage:
        conditions = [self._condition(attribute, value)
                      for attribute, value in query.filters.items()]
        after = decode_cursor(query.cursor, _PAGE).get("after") if query.cursor else None
        if after is not None:
            if not isinstance(after, int):
                raise InvalidQuery(f"{query.cursor!r:.40} is not a page cursor of this adapter.")
            conditions.append({"id": {"_gt": after}})
        limit = max(1, min(query.page_size, MAX_PAGE_SIZE))
        # One more than asked: proof that a next page exists, without a count query.
        data, total = self.items.list({"_and": conditions} if conditions else None,
                                      sort=("id",), limit=limit + 1, count=after is None)
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
            next_cursor = encode_cursor(_PAGE, after=last)
        return self.map_listed(page, self._to_customer, next_cursor, total)

    def _condition(self, attribute: str, value: Any) -> dict[str, Any]:
        if attribute not in mapping.FILTERABLE:
            raise InvalidQuery(f"Customers cannot be filtered by {attribute!r}; filter by "
                               f"{', '.join(mapping.FILTERABLE)}.")
        field = mapping.ATTRIBUTE_FIELDS[attribute]
        return {field: {"_null": True} if value is None else {"_eq": value}}

    def _to_customer(self, item: Any) -> CanonicalEntity:
        return mapping.to_customer(item, self.config.name)

    # -- change detection ------------------------------------------------------------------

    def stream_changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Changes in (effective update time, id) order; the cursor is the last pair
        delivered, so items sharing a timestamp are neither skipped nor repeated.

        Directus cannot sort by "date_updated, or date_created when null", so each batch
        reads the updated items (by date_updated, id) and the never-updated ones (by
        date_created, id) and merges them. Deletions come only from the webhook.
        """
        after = _decode_position(cursor) if cursor else None
        while True:
            changes, after, complete = self._changes_after(after)
            yield ChangeBatch(changes, _encode_position(after) if after else cursor, complete)
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
            stream = [(where, item) for item in data if (where := self._position(item))]
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

    def _position(self, item: Any) -> mapping.Position | None:
        where = mapping.position(item)
        if where is None:
            # An item without an integer id or readable times does not map either: mapping
            # it reports what is wrong.
            self.map_or_report(item, self._to_customer)
        return where

    def _change(self, item: Any, change_type: ChangeType | None = None,
                changed_fields: tuple[str, ...] = ()) -> SourceChange | None:
        try:
            return mapping.to_change(item, self.config.name, change_type, changed_fields)
        except MalformedRecord as exc:
            self.report_malformed(exc)
            return None

    # -- webhooks (Directus Flows) ---------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], secret: str) -> bool:
        """Whether the request carries the shared secret (compared in constant time)."""
        return secrets_match(header(headers, self.webhook_header), secret)

    def changes_from_webhook(self, body: Mapping[str, Any]) -> list[SourceChange]:
        """The changes an `items.create|update|delete` Flow event reports. Created and
        updated items are fetched (one call per 100 keys), since an update's payload holds
        only the changed fields; a key gone by then is left to its own delete event.
        Events of other collections are not ours: no changes."""
        event, keys = body.get("event"), body.get("keys")
        if event not in WEBHOOK_EVENTS or not isinstance(keys, list):
            raise MalformedRecord(f"Not a Directus items webhook (event {event!r}, keys "
                                  f"{keys!r}); the Flow must send the event's `event`, "
                                  "`collection`, `keys` and `payload`.")
        if body.get("collection") != self.collection:
            return []
        ours = unique(key for key in map(mapping.directus_key, keys) if key is not None)
        if event == "items.delete":
            now = datetime.now(tz=UTC)
            return [SourceChange(ChangeType.DELETED, mapping.ENTITY_TYPE, str(key), None, now)
                    for key in ours]
        payload = body.get("payload")
        change_type = ChangeType.CREATED if event == "items.create" else ChangeType.UPDATED
        # An update's payload holds exactly the fields the update changed.
        changed: tuple[str, ...] = () if change_type is ChangeType.CREATED else \
            mapping.changed_attributes(payload if isinstance(payload, dict) else ())
        return [change for item in self.items.by_keys(ours)
                if (change := self._change(item, change_type, changed)) is not None]

    # -- what the platform knows about this source -----------------------------------------

    def get_schema(self, entity_type: str) -> EntitySchema:
        self.check_entity_type(entity_type)
        return mapping.SCHEMA

    def get_sla(self) -> ServiceLevel:
        # Webhooks make changes near-immediate; polling every minute backs them up.
        return ServiceLevel(freshness_seconds=60, availability=0.995, latency_p99_ms=500)

    def get_lineage(self) -> Lineage:
        return Lineage({mapping.ENTITY_TYPE: f"source:directus/{self.collection}"})

    def health_request(self) -> tuple[str, Mapping[str, Any]]:
        # A one-item read, not /server/ping: ping is public, so it cannot see a revoked token.
        return self.items.path, {"limit": 1, "fields": "id"}


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else None


def _keyset(field: str, after: mapping.Position) -> dict[str, Any]:
    """Items strictly after ``after`` in (field, id) order."""
    moment, key = after
    at = moment.isoformat()
    return {"_or": [{field: {"_gt": at}},
                    {"_and": [{field: {"_eq": at}}, {"id": {"_gt": key}}]}]}


def _encode_position(where: mapping.Position) -> str:
    return encode_cursor(_CHANGES, at=where[0].isoformat(), id=where[1])


def _decode_position(cursor: str) -> mapping.Position:
    values = decode_cursor(cursor, _CHANGES)
    moment, key = parse_timestamp(values.get("at")), values.get("id")
    if moment is None or not isinstance(key, int):
        raise InvalidQuery(f"{cursor[:40]!r} is not a change cursor of this adapter.")
    return moment, key
