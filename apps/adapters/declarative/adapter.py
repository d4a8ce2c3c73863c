"""The adapter of a described REST source: the HTTP skeleton (`HttpSourceAdapter`) driven by a
:class:`Description` instead of code. Each description gets its own subclass
(:func:`adapter_class`), so it has the class-level name, domain and entity type the
contract, the registry, topics, events and the catalog rely on, like a code adapter.

Connection settings: the credentials the description's ``auth`` names (default ``token`` for
bearer, ``api_key`` for an API key, ``username``/``password`` for basic); ``options``:
``change_batch_size``, ``health_slow_ms``, ``max_window_pages`` (pages one change poll may
read, default 200), ``window_reuse_seconds`` (default 60), ``etag_cache_size`` (with
``etag: true``, default 256).

A code adapter that needs more than a description (write commands, webhooks) subclasses
this class with its ``description`` and adds the rest, as the products adapter does.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from apps.adapters.base import (
    CanonicalEntity,
    ChangeBatch,
    ChangeType,
    EntityPage,
    EntityQuery,
    InvalidQuery,
    MalformedRecord,
    RequestRejected,
    ServiceLevel,
    SourceChange,
    SourceConfig,
    SourceRateLimited,
)
from apps.adapters.conditional_gets import DEFAULT_ETAG_CACHE_SIZE, ConditionalGets
from apps.adapters.cursors import Position, PositionCursor, decode_cursor, encode_cursor
from apps.adapters.declarative.description import Description, dotted
from apps.adapters.declarative.mapping import at_path, to_entity
from apps.adapters.http_source import HttpSourceAdapter
from apps.adapters.record_reader import parse_timestamp

_PAGE = "declared-page"
_CHANGES = PositionCursor("declared-changes", key_field="key", key_type=str)
DEFAULT_MAX_WINDOW_PAGES = 200
#: the most seconds a reset header may ask us to hold back (a wrong header must not stall
#: a source for hours)
MAX_RATE_LIMIT_PAUSE = 300.0

Token = dict[str, Any]
Placed = tuple[Position, CanonicalEntity]
#: seconds a change window read stays usable for resuming from one of its batch cursors
DEFAULT_WINDOW_REUSE_SECONDS = 60


@dataclass(frozen=True)
class _Window:
    """The changes one poll read, in change order, with each one's index by position."""

    ordered: list[Placed]
    index: dict[Position, int]
    read_at: float  # time.monotonic()


class DeclarativeAdapter(HttpSourceAdapter):
    """Reads one described source; see the module docstring."""

    description: ClassVar[Description]
    #: the description's version this class was built from
    description_version: ClassVar[int] = 0
    #: the change cursor's encoding: stored cursors must keep working, so an adapter that
    #: had one of its own before it was described keeps that one
    change_cursor: ClassVar[PositionCursor] = _CHANGES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A subclass names its description; the rest of what the contract reads at class
        # level follows from it (before the base derives entity_types from the schema).
        description = cls.__dict__.get("description")
        if description is not None:
            cls.schema = description.schema
            cls.domain = description.domain
            cls.ids_per_call = description.by_ids.get("max", 100) if description.by_ids else 1
            cls.max_page_size = description.list.get("max_page_size", 100)
        super().__init_subclass__(**kwargs)

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.max_window_pages = self.option_number("max_window_pages", DEFAULT_MAX_WINDOW_PAGES)
        self._paused_until = 0.0  # time.monotonic(): the source's rate limit ran out
        self._pause_lock = threading.Lock()
        self.gets = ConditionalGets(self.http, self.option_number(
            "etag_cache_size", DEFAULT_ETAG_CACHE_SIZE)) if self.description.etag else None
        self.window_reuse_seconds = self.option_number("window_reuse_seconds",
                                                       DEFAULT_WINDOW_REUSE_SECONDS)
        self._window_kept: _Window | None = None

    # -- requests ----------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        auth = self.description.auth
        if auth["type"] == "bearer":
            return {"Authorization": f"Bearer {self.credential(auth.get('credential', 'token'))}"}
        if auth["type"] == "api_key":
            return {auth["header"]: self.credential(auth.get("credential", "api_key"))}
        if auth["type"] == "basic":
            user = self.credential(auth.get("username_credential", "username"))
            password = self.credential(auth.get("password_credential", "password"))
            return {"Authorization": "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode()}
        return {}

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
        """(JSON body, response) of one GET, conditional when the description says ``etag``,
        honouring the source's rate-limit headers: when they say the budget is spent, calls
        wait for the reset as SourceRateLimited (the resilience layer backs off) instead of
        spending 429s. A 429 itself is SourceRateLimited with its Retry-After."""
        with self._pause_lock:
            wait = self._paused_until - time.monotonic()
        if wait > 0:
            raise SourceRateLimited(
                f"{self.config.name}: the source's rate-limit headers said its budget is "
                f"spent; holding back {wait:.1f} s until it resets.", wait)
        if self.gets is not None:
            body, response = self.gets.get(path, params)
        else:
            response = self.http.send("GET", path, params=params)
            body = self.http.json_of(response, f"GET {path}")
        pause = self._rate_limit_pause(response.headers)
        if pause is not None:
            with self._pause_lock:
                self._paused_until = time.monotonic() + pause
        return body, response

    def _rate_limit_pause(self, headers: Mapping[str, str]) -> float | None:
        """Seconds to hold back when the rate-limit headers say nothing is left."""
        limit = self.description.rate_limit
        if limit is None:
            return None
        remaining = headers.get(limit["remaining_header"])
        reset = headers.get(limit["reset_header"])
        if remaining is None or reset is None or remaining.strip() != "0":
            return None
        try:
            seconds = float(reset)
        except ValueError:
            return None
        if limit.get("reset", "seconds") == "epoch":
            seconds -= time.time()
        return max(0.0, min(seconds, MAX_RATE_LIMIT_PAUSE))

    def _records(self, body: Any, path: str, where: str) -> list[Any]:
        records = at_path(body, dotted(path))
        if not isinstance(records, list):
            raise MalformedRecord(
                f"{self.config.name} answered {where} without a list at "
                f"{path or 'the top level'!r}; check the description's list.records (or the "
                "connection's base URL).")
        return records

    # -- reading ---------------------------------------------------------------------------

    def fetch_record(self, entity_id: str) -> Any:
        path = self.description.get["path"].replace("{id}", quote(entity_id, safe=""))
        body, _ = self._get(path)
        record_path = self.description.get.get("record", "")
        return at_path(body, dotted(record_path)) if record_path else body

    def fetch_records(self, ids: Sequence[str]) -> list[Any]:
        by_ids = self.description.by_ids
        if by_ids is None:  # one call per id: the API has no lookup of many
            return [record for record in map(self._record_or_none, ids) if record is not None]
        body, _ = self._get(self.description.list["path"],
                            {by_ids["param"]: by_ids.get("separator", ",").join(ids)})
        return self._records(body, self.description.list.get("records", ""), "a by-ids call")

    def _record_or_none(self, entity_id: str) -> Any:
        try:
            return self.fetch_record(entity_id)
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise

    def to_entity(self, record: Any, record_id: str | None = None) -> CanonicalEntity:
        return to_entity(self.description, record, self.config.name, record_id)

    def record_position(self, record: Any) -> Position | None:
        try:
            entity = self.to_entity(record)
        except MalformedRecord:
            return None
        moment = parse_timestamp(entity.attributes[self.description.cursor_field])
        return None if moment is None else (moment, entity.id)

    def check_filters(self, filters: Mapping[str, Any]) -> None:
        allowed = self.description.list.get("filters", {})
        for name, value in filters.items():
            if name not in allowed:
                raise InvalidQuery(
                    f"{self.config.name} cannot filter {self.description.entity_type} by "
                    f"{name!r}" + (f"; it filters by {', '.join(sorted(allowed))}."
                                   if allowed else "; query by ids or list without filters."))
            self._filter_param(name, value)

    def _filter_param(self, name: str, value: Any) -> tuple[str, str | int]:
        """The query parameter and value of one filter: a mapped filter's value is looked up
        in its ``values`` (by its JSON text: true, false, or the value itself)."""
        rule = self.description.list["filters"][name]
        if isinstance(rule, str):
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise InvalidQuery(f"Filter {name!r} takes one text or integer value.")
            return rule, value
        key = json.dumps(value) if isinstance(value, bool) else str(value)
        if key not in rule["values"]:
            raise InvalidQuery(f"Filter {name!r} takes one of {', '.join(rule['values'])}, "
                               f"not {key}.")
        return rule["param"], rule["values"][key]

    def query_page(self, query: EntityQuery) -> EntityPage:
        size = max(1, min(query.page_size, self.max_page_size))
        token: Token = decode_cursor(query.cursor, _PAGE) if query.cursor else {"n": size}
        filters = dict(self._filter_param(name, value) for name, value in query.filters.items())
        records, next_token, total = self._page(token, filters)
        return self.map_listed(records, self.to_entity,
                               encode_cursor(_PAGE, **next_token) if next_token else None, total)

    def _page(self, token: Token, params: Mapping[str, Any]) -> tuple[list[Any], Token | None,
                                                                      int | None]:
        """One page of the listing, the token of the next (None: it was the last) and the
        total the source reports (``list.total``), if any.

        ``token`` holds the page size ("n") and where the page starts: the source's cursor
        ("c"), page number ("p"), offset ("o") or the next link's path ("u")."""
        listing, paging = self.description.list, self.description.pagination
        size = token["n"]
        kind = paging["type"]
        path, query = listing["path"], dict(params)
        if listing.get("page_size_param"):
            query[listing["page_size_param"]] = size
        if kind == "cursor" and token.get("c") is not None:
            query[paging["cursor_param"]] = token["c"]
        elif kind == "page":
            query[paging["page_param"]] = token.get("p", paging.get("first_page", 1))
        elif kind == "offset":
            query[paging["offset_param"]] = token.get("o", 0)
        elif kind == "link_header" and token.get("u"):
            path, query = token["u"], {}
        body, response = self._get(path, query)
        records = self._records(body, listing.get("records", ""), f"GET {listing['path']}")
        following: Token | None = None
        if kind == "cursor":
            cursor = at_path(body, dotted(paging["next_cursor"]))
            if cursor not in (None, "") and records:
                following = {"n": size, "c": cursor}
        elif kind == "page":
            page = query[paging["page_param"]]
            total = at_path(body, dotted(paging.get("total_pages", ""))) \
                if paging.get("total_pages") else None
            more = page < total if isinstance(total, int) else len(records) >= size
            following = {"n": size, "p": page + 1} if more and records else None
        elif kind == "offset":
            following = ({"n": size, "o": query[paging["offset_param"]] + len(records)}
                         if len(records) >= size else None)
        elif kind == "link_header":
            following = self._next_link(response, size)
        total = at_path(body, dotted(listing["total"])) if listing.get("total") else None
        return records, following, total if isinstance(total, int) else None

    def _next_link(self, response: Any, size: int) -> Token | None:
        """The Link header's rel="next", as a path under the base URL: a link elsewhere is
        refused (it would carry our credentials to another host)."""
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        base = self.http.base_url
        if not link.startswith(base + "/"):
            raise MalformedRecord(f"{self.config.name}'s next-page link {link[:120]!r} leaves "
                                  f"the source ({base}); refusing to follow it.")
        return {"n": size, "u": link[len(base):]}

    # -- change detection ------------------------------------------------------------------

    def stream_changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Changes in (cursor field, id) order after the cursor's position. With a
        changed-since parameter the source lists only records changed at or after the
        last position's time (inclusive, so records sharing a time are neither skipped nor
        repeated); without one the whole listing is read and filtered here. The source
        cannot tell creations from updates: every change is UPDATED.

        A listing is in the source's order, not in change order, so a poll reads the whole
        window since the cursor before it can order it. The window is kept for a while
        (``window_reuse_seconds``): resuming from one of its batch cursors serves the next
        batch from it without a second read; a record changed meanwhile comes again, as
        its newer version, in a later window."""
        after = self.change_cursor.decode(cursor)[0] if cursor else None
        ordered = self._kept_window_after(after)
        if ordered is None:
            ordered = self._read_window(after)
        if not ordered:
            yield ChangeBatch([], cursor, complete=True)
            return
        size = self.change_batch_size
        for start in range(0, len(ordered), size):
            batch = ordered[start:start + size]
            yield ChangeBatch(
                [SourceChange(ChangeType.UPDATED, self.description.entity_type, entity.id,
                              entity, at) for (at, _), entity in batch],
                self.change_cursor.encode(batch[-1][0]), complete=start + size >= len(ordered))

    def _kept_window_after(self, after: Position | None) -> list[Placed] | None:
        """The rest of the kept window after ``after``, if ``after`` is one of its
        positions, not its last (past its end only a new read can tell), and the window is
        recent enough; None otherwise."""
        window = self._window_kept  # one read: another thread may replace it
        if window is None or after is None or \
                time.monotonic() - window.read_at > self.window_reuse_seconds:
            return None
        index = window.index.get(after)
        if index is None or index + 1 == len(window.ordered):
            return None
        return window.ordered[index + 1:]

    def _read_window(self, after: Position | None) -> list[Placed]:
        params = {}
        if after is not None and self.description.since_param:
            params[self.description.since_param] = after[0].isoformat()
        # Keyed by position: a record served on two pages (one added while paging shifts
        # the order) is one change.
        placed: dict[Position, CanonicalEntity] = {}
        token: Token | None = {"n": self.max_page_size}
        for _ in range(self.max_window_pages):
            if token is None:
                break
            records, token, _ = self._page(token, params)
            for record in records:
                entity = self.map_or_report(record, self.to_entity)
                moment = None if entity is None else parse_timestamp(
                    entity.attributes[self.description.cursor_field])
                if entity is not None and moment is not None and (
                        after is None or (moment, entity.id) > after):
                    placed[(moment, entity.id)] = entity
        ordered = sorted(placed.items(), key=lambda pair: pair[0])
        self._window_kept = _Window(ordered, {at: n for n, (at, _) in enumerate(ordered)},
                                    time.monotonic())
        return ordered

    # -- what the platform knows about this source -----------------------------------------

    def get_sla(self) -> ServiceLevel:
        return self.description.sla

    def health_request(self) -> tuple[str, Mapping[str, Any]]:
        size_param = self.description.list.get("page_size_param")
        return self.description.list["path"], ({size_param: 1} if size_param else {})

    def health_sample(self, body: Any) -> list[Any]:
        """The listing's records, mapped by health so that a drifted source shows DEGRADED."""
        listing = self.description.list
        return self._records(body, listing.get("records", ""), f"GET {listing['path']}")


def adapter_class(name: str, description: Description,
                  version: int = 0) -> type[DeclarativeAdapter]:
    """The adapter class of source ``name`` as ``description`` says."""
    attributes = {"name": name, "description": description, "description_version": version,
                  "__module__": __name__}
    class_name = "Declared" + "".join(part.title() for part in name.replace("-", "_").split("_"))
    return type(class_name, (DeclarativeAdapter,), attributes)
