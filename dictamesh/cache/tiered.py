"""The three-level read-through cache in front of every source: process memory, Redis, and a
durable store the apps provide (the catalog's PostgreSQL tables).

Read path: L1 → L2 → L3 → loader (the source, behind its breaker), filling the levels above
on the way back. Every entry carries the time it was fetched from the source, so its age is
known at every level, and freshness is one rule everywhere: ``age <= fresh_for_s``. L1 also
bounds how long a process trusts its own copy (``l1_ttl_s``) in case an invalidation
message is lost.

When the source is unavailable (the caller names which errors mean that; an open circuit
always does), the newest copy found at any level is served, fresh or not, marked
``stale=True`` with its age. L2 keeps entries for ``stale_for_s``, L3 keeps them until the
catalog says otherwise, and L1 moves expired entries to a bounded stale map instead of
dropping them. With no copy anywhere, SourceUnavailableNoCache is raised.

Tenancy: L1 keys include the current schema; L2 keys get it from Django's KEY_FUNCTION
(django_tenants.cache.make_key); L3 lives in the tenant's schema.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson
from cachetools import LRUCache, TTLCache
from django.conf import settings
from django.core.cache import caches
from django_redis.exceptions import ConnectionInterrupted
from prometheus_client import Counter
from redis.exceptions import RedisError

from dictamesh.cache.invalidation import InvalidationBus
from dictamesh.cache.outage import BYPASSED
from dictamesh.env import setting_number
from dictamesh.observability.logging import get_logger
from dictamesh.resilience.breaker import CircuitOpenError
from dictamesh.tenancy import current_schema

log = get_logger(__name__)

CacheLevel = Literal["l1", "l2", "l3", "source"]

#: an entry is fresh this long after it was fetched from the source (at every level)
DEFAULT_FRESH_SECONDS = 300.0
#: a process re-checks L2 after this long even without an invalidation message
DEFAULT_L1_TTL_SECONDS = 30.0
DEFAULT_L1_MAX_ENTRIES = 10_000
#: expired or evicted L1 entries kept for stale serving when the source is down
DEFAULT_L1_STALE_MAX_ENTRIES = 10_000
#: how long L2 keeps an entry (for stale serving) after it was written
DEFAULT_STALE_SECONDS = 86_400.0

HITS = Counter("dictamesh_cache_hits", "Entities served fresh, per cache level.",
               ["entity_type", "level"])
MISSES = Counter("dictamesh_cache_misses",
                 "Entities found fresh at no level and asked of the source.", ["entity_type"])
# Reads and writes of L2 skipped because Redis was unavailable (the same metric as the
# GraphQL response cache's bypasses, dictamesh.cache.outage).
L2_BYPASSED = BYPASSED.labels("entity_cache_l2")
STALE_SERVES = Counter("dictamesh_cache_stale_serves",
                       "Entities served stale because the source was unavailable.",
                       ["entity_type"])


@functools.lru_cache(maxsize=4096)
def _hits(entity_type: str, level: CacheLevel) -> Any:
    """The labelled counter child, memoised: ``labels()`` validates and locks on every call,
    a measurable share of an L1 hit."""
    return HITS.labels(entity_type=entity_type, level=level)


_ENTITY_TYPE = re.compile(r"[A-Za-z0-9_.-]+")
_L2_PREFIX = "dm:entity"
_L2_FORMAT = "1"  # bump when the stored layout changes; older entries then read as misses

# An entry at L1/L2: the value as JSON text (so no caller can mutate a cached copy) and the
# epoch second it was fetched from the source.
_Entry = tuple[str, float]
_L1Key = tuple[str, str, str]  # schema, entity type, id


@dataclass(frozen=True)
class CachePolicy:
    fresh_for_s: float = DEFAULT_FRESH_SECONDS
    l1_ttl_s: float = DEFAULT_L1_TTL_SECONDS
    l1_max_entries: int = DEFAULT_L1_MAX_ENTRIES
    l1_stale_max_entries: int = DEFAULT_L1_STALE_MAX_ENTRIES
    stale_for_s: float = DEFAULT_STALE_SECONDS

    def __post_init__(self) -> None:
        for name in ("fresh_for_s", "l1_ttl_s", "stale_for_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name}={value!r}: expected a positive number of seconds")
        for name in ("l1_max_entries", "l1_stale_max_entries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected an integer >= 1")
        if self.stale_for_s < self.fresh_for_s:
            raise ValueError(f"stale_for_s={self.stale_for_s} < fresh_for_s={self.fresh_for_s}:"
                             " L2 would drop entries while they are still fresh")

    @classmethod
    def from_settings(cls) -> CachePolicy:
        """The policy from settings; ImproperlyConfigured names a bad setting."""
        return cls(
            fresh_for_s=setting_number("CACHE_FRESH_SECONDS", settings.CACHE_FRESH_SECONDS,
                                       minimum=0.001),
            l1_ttl_s=setting_number("CACHE_L1_TTL_SECONDS", settings.CACHE_L1_TTL_SECONDS,
                                    minimum=0.001),
            l1_max_entries=int(setting_number("CACHE_L1_MAX_ENTRIES",
                                              settings.CACHE_L1_MAX_ENTRIES,
                                              minimum=1, integer=True)),
            l1_stale_max_entries=int(setting_number("CACHE_L1_STALE_MAX_ENTRIES",
                                                    settings.CACHE_L1_STALE_MAX_ENTRIES,
                                                    minimum=1, integer=True)),
            stale_for_s=setting_number("CACHE_STALE_SECONDS", settings.CACHE_STALE_SECONDS,
                                       minimum=0.001),
        )


@dataclass(frozen=True)
class StoredEntry:
    """One entity at L3: its canonical value, when it was fetched, and whether a change
    event has made it outdated (kept only as a fallback while the source is down)."""

    value: dict[str, Any]
    fetched_at: datetime  # timezone-aware
    invalidated: bool = False


class L3Store(Protocol):
    """The durable level, implemented by the apps (the catalog, in the tenant's schema)."""

    def get_many(self, entity_type: str, ids: Sequence[str]) -> Mapping[str, StoredEntry]:
        """The entries held for ``ids``, fresh or not; absent ids are simply left out."""

    def put_many(self, entity_type: str, entries: Mapping[str, StoredEntry]) -> None:
        """Insert or replace entries (they come straight from the source)."""

    def invalidate(self, entity_type: str, ids: Sequence[str]) -> None:
        """The source changed these: from now on return them with ``invalidated=True``
        (or not at all, if no stale copy should ever be served)."""


@dataclass(frozen=True)
class CachedValue:
    value: dict[str, Any]
    fetched_at: datetime
    level: CacheLevel  # where it was found ("source": just fetched)
    stale: bool = False  # True only when served because the source was unavailable
    age_seconds: float = 0.0  # seconds since it was fetched from the source


class SourceUnavailableNoCache(Exception):
    """The source is unavailable and no level holds a copy of some of the entities."""

    code = "SOURCE_UNAVAILABLE"

    def __init__(self, entity_type: str, ids: Sequence[str], cause: BaseException,
                 available: Mapping[str, CachedValue] | None = None) -> None:
        self.entity_type = entity_type
        self.ids = list(ids)
        self.cause = cause
        #: what could be served for the other requested ids (fresh or stale), by id
        self.available = dict(available or {})
        shown = ", ".join(repr(i) for i in self.ids[:5]) + (" ..." if len(self.ids) > 5 else "")
        super().__init__(
            f"Cannot serve {entity_type} {shown}: the source is unavailable ({cause}) and no "
            "cache level holds a copy. Retry once the source is back; its circuit breaker "
            "state and health check tell when."
        )


class _StaleKeepingTTLCache(TTLCache[_L1Key, _Entry]):
    """A TTLCache that hands entries it expires or evicts to a bounded stale map."""

    def __init__(self, maxsize: int, ttl: float, stale: LRUCache[_L1Key, _Entry]) -> None:
        super().__init__(maxsize=maxsize, ttl=ttl)
        self.stale = stale

    def expire(self, time: float | None = None) -> list[tuple[_L1Key, _Entry]]:
        expired = list(super().expire(time))
        for key, entry in expired:
            self.stale[key] = entry
        return expired

    def popitem(self) -> tuple[_L1Key, _Entry]:
        key, entry = super().popitem()
        self.stale[key] = entry
        return key, entry


class _LocalLevel:
    """L1: this process's memory, shared by its threads."""

    def __init__(self, policy: CachePolicy) -> None:
        self._lock = threading.Lock()
        self._stale: LRUCache[_L1Key, _Entry] = LRUCache(maxsize=policy.l1_stale_max_entries)
        self._fresh = _StaleKeepingTTLCache(policy.l1_max_entries, policy.l1_ttl_s, self._stale)

    def get_many(self, keys: Iterable[_L1Key]) -> dict[_L1Key, _Entry]:
        with self._lock:
            return {key: entry for key in keys if (entry := self._fresh.get(key)) is not None}

    def get_stale(self, key: _L1Key) -> _Entry | None:
        with self._lock:
            self._fresh.expire()  # moves what has expired into the stale map
            return self._fresh.get(key) or self._stale.get(key)

    def put_many(self, entries: Mapping[_L1Key, _Entry]) -> None:
        with self._lock:
            for key, entry in entries.items():
                self._fresh[key] = entry
                self._stale.pop(key, None)

    def evict(self, keys: Iterable[_L1Key]) -> None:
        with self._lock:
            for key in keys:
                self._fresh.pop(key, None)
                self._stale.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._fresh.clear()
            self._stale.clear()


def _encode(entity_type: str, entity_id: str, value: Mapping[str, Any]) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The loader returned a value for {entity_type} {entity_id!r} that is "
                        f"not JSON ({exc}); cached values must be JSON-serialisable dicts: "
                        "convert dates and decimals to strings in the adapter.") from None


def _to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class TieredCache:
    """L1 → L2 → L3 → source, with stale serving when the source is down.

    ``unavailable_errors`` are the loader errors that mean "the source is unavailable"
    (e.g. the adapters' SourceUnavailable); CircuitOpenError is always one of them. Other
    loader errors propagate unchanged. Values are JSON-serialisable dicts; each read
    returns a fresh copy. Give ``bus`` for cross-process L1 invalidation.
    """

    def __init__(self, l3: L3Store, *,
                 unavailable_errors: tuple[type[BaseException], ...] = (),
                 policy: CachePolicy | None = None, cache_alias: str = "default",
                 bus: InvalidationBus | None = None) -> None:
        self.policy = policy or CachePolicy.from_settings()
        self._l1 = _LocalLevel(self.policy)
        self._l3 = l3
        self._cache_alias = cache_alias
        self._unavailable: tuple[type[BaseException], ...] = (CircuitOpenError,
                                                              *unavailable_errors)
        self._bus = bus
        if bus is not None:
            bus.register(self)

    # -- reading ---------------------------------------------------------------------------

    def get(self, entity_type: str, entity_id: str,
            loader: Callable[[str], Mapping[str, Any] | None]) -> CachedValue | None:
        """The entity, or None when the source has no such entity."""

        def load_one(ids: list[str]) -> Mapping[str, Mapping[str, Any]]:
            value = loader(ids[0])
            return {} if value is None else {ids[0]: value}

        return self.get_many(entity_type, [entity_id], load_one).get(entity_id)

    def get_many(self, entity_type: str, ids: Iterable[str],
                 loader_many: Callable[[list[str]], Mapping[str, Mapping[str, Any]]],
                 ) -> dict[str, CachedValue]:
        """The entities found, by id, in request order; ids the source lacks are absent.

        ``loader_many`` is called at most once, with exactly the ids no level holds fresh.
        """
        wanted = self._check(entity_type, ids)
        read = _Read(entity_type, current_schema(), time.time(), self.policy.fresh_for_s)
        self._read_l1(read, wanted)
        if missing := read.missing(wanted):
            self._read_l2(read, missing)
        if missing := read.missing(wanted):
            self._read_l3(read, missing)
        if missing := read.missing(wanted):
            self._load(read, missing, loader_many)
        return {i: read.found[i] for i in wanted if i in read.found}

    def _read_l1(self, read: _Read, ids: list[str]) -> None:
        for (_, _, entity_id), entry in self._l1.get_many(read.l1_key(i) for i in ids).items():
            read.offer(entity_id, entry, "l1")

    def _read_l2(self, read: _Read, ids: list[str]) -> None:
        keys = {self.l2_key(read.entity_type, i): i for i in ids}
        try:
            raw = caches[self._cache_alias].get_many(list(keys))
        except (RedisError, ConnectionInterrupted):
            L2_BYPASSED.inc()
            log.warning("L2 (Redis) unavailable: reading past it", exc_info=True)
            return
        fills = {}
        for key, text in raw.items():
            entity_id = keys[key]
            entry = _parse_l2(text)
            if entry is not None and read.offer(entity_id, entry, "l2"):
                fills[read.l1_key(entity_id)] = entry
        self._l1.put_many(fills)

    def _read_l3(self, read: _Read, ids: list[str]) -> None:
        fills: dict[str, _Entry] = {}
        asked = set(ids)
        for entity_id, stored in self._l3.get_many(read.entity_type, ids).items():
            if entity_id not in asked:
                continue
            entry = (_encode(read.entity_type, entity_id, stored.value),
                     stored.fetched_at.timestamp())
            if read.offer(entity_id, entry, "l3", usable=not stored.invalidated):
                fills[entity_id] = entry
        self._fill(read, fills, l3=False)

    def _load(self, read: _Read, ids: list[str],
              loader_many: Callable[[list[str]], Mapping[str, Mapping[str, Any]]]) -> None:
        MISSES.labels(entity_type=read.entity_type).inc(len(ids))
        fetched_at = time.time()  # before the call: the age is never understated
        try:
            loaded = loader_many(list(ids))
        except self._unavailable as exc:
            self._serve_stale(read, ids, exc)
            return
        fills = {i: (_encode(read.entity_type, i, loaded[i]), fetched_at)
                 for i in ids if loaded.get(i) is not None}
        for entity_id, entry in fills.items():
            read.found[entity_id] = read.value(entry, "source")
        self._fill(read, fills, l3=True)

    def _serve_stale(self, read: _Read, ids: list[str], cause: BaseException) -> None:
        for entity_id in ids:
            local = self._l1.get_stale(read.l1_key(entity_id))
            if local is not None:
                read.offer(entity_id, local, "l1", usable=False)
        without_copy = []
        for entity_id in ids:
            candidate = read.stale.get(entity_id)
            if candidate is None:
                without_copy.append(entity_id)
                continue
            entry, level = candidate
            read.found[entity_id] = read.value(entry, level, stale=True)
            STALE_SERVES.labels(entity_type=read.entity_type).inc()
        log.warning("source unavailable: serving stale copies", entity_type=read.entity_type,
                    stale=len(ids) - len(without_copy), without_copy=len(without_copy),
                    error=repr(cause))
        if without_copy:
            raise SourceUnavailableNoCache(read.entity_type, without_copy, cause,
                                           available=read.found) from cause

    def _fill(self, read: _Read, entries: Mapping[str, _Entry], *, l3: bool) -> None:
        """Write entries to the levels above where they were found, bottom-up."""
        if not entries:
            return
        if l3:
            self._l3.put_many(read.entity_type, {
                i: StoredEntry(json.loads(text), _to_datetime(at))
                for i, (text, at) in entries.items()})
        try:
            caches[self._cache_alias].set_many(
                {self.l2_key(read.entity_type, i): f"{_L2_FORMAT}|{at!r}|{text}"
                 for i, (text, at) in entries.items()},
                timeout=self.policy.stale_for_s)
        except (RedisError, ConnectionInterrupted):
            L2_BYPASSED.inc()
            log.warning("L2 (Redis) unavailable: entries not written to it", exc_info=True)
        self._l1.put_many({read.l1_key(i): entry for i, entry in entries.items()})

    # -- invalidation ----------------------------------------------------------------------

    def invalidate(self, entity_type: str, entity_id: str) -> None:
        """Forget the entity at every level, in every process (the source changed it)."""
        self.invalidate_many(entity_type, [entity_id])

    def invalidate_many(self, entity_type: str, ids: Iterable[str]) -> None:
        wanted = self._check(entity_type, ids)
        if not wanted:
            return
        schema = current_schema()
        # Bottom-up, so that no upper level can refill from a lower one not yet cleared.
        self._l3.invalidate(entity_type, wanted)
        try:
            caches[self._cache_alias].delete_many([self.l2_key(entity_type, i) for i in wanted])
        except (RedisError, ConnectionInterrupted):
            log.error("L2 (Redis) unavailable: invalidated entries may be served from it "
                      "until they age out", entity_type=entity_type, ids=wanted[:20],
                      exc_info=True)
        self.evict_local(schema, entity_type, wanted)
        if self._bus is not None:
            self._bus.publish(schema, entity_type, wanted)

    def evict_local(self, schema: str, entity_type: str, ids: Sequence[str]) -> None:
        """Drop entries from this process's L1 only (the invalidation listener calls it)."""
        self._l1.evict((schema, entity_type, i) for i in ids)

    def clear_local(self) -> None:
        """Empty this process's L1 (e.g. after missed invalidation messages)."""
        self._l1.clear()

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def l2_key(entity_type: str, entity_id: str) -> str:
        """The entry's Django-cache key; KEY_FUNCTION prefixes the tenant schema to it."""
        return f"{_L2_PREFIX}:{entity_type}:{entity_id}"

    @staticmethod
    def _check(entity_type: str, ids: Iterable[str]) -> list[str]:
        if not isinstance(entity_type, str) or not _ENTITY_TYPE.fullmatch(entity_type):
            raise ValueError(f"entity_type={entity_type!r}: use letters, digits, '_', '.' "
                             "or '-' (it is part of cache keys).")
        if isinstance(ids, str):
            raise TypeError(f"ids={ids!r} is one string: pass a list of ids.")
        wanted = list(dict.fromkeys(ids))
        bad = [i for i in wanted if not isinstance(i, str) or not i]
        if bad:
            raise ValueError(f"ids must be non-empty strings; got {bad[:5]!r}")
        return wanted


def _parse_l2(text: object) -> _Entry | None:
    if not isinstance(text, str):
        return None
    version, _, rest = text.partition("|")
    fetched, _, value = rest.partition("|")
    if version != _L2_FORMAT or not value:
        return None
    try:
        return value, float(fetched)
    except ValueError:
        return None


@dataclass
class _Read:
    """The state of one get_many: what was found fresh, and the newest stale copies."""

    entity_type: str
    schema: str
    now: float
    fresh_for_s: float
    found: dict[str, CachedValue] = field(default_factory=dict)
    stale: dict[str, tuple[_Entry, CacheLevel]] = field(default_factory=dict)

    def l1_key(self, entity_id: str) -> _L1Key:
        return (self.schema, self.entity_type, entity_id)

    def missing(self, ids: list[str]) -> list[str]:
        return [i for i in ids if i not in self.found]

    def offer(self, entity_id: str, entry: _Entry, level: CacheLevel, *,
              usable: bool = True) -> bool:
        """Take ``entry`` as the answer if fresh (True); else keep it if it is the newest
        stale copy so far."""
        if usable and self.now - entry[1] <= self.fresh_for_s:
            self.found[entity_id] = self.value(entry, level)
            _hits(self.entity_type, level).inc()
            return True
        current = self.stale.get(entity_id)
        if current is None or entry[1] > current[0][1]:
            self.stale[entity_id] = (entry, level)
        return False

    def value(self, entry: _Entry, level: CacheLevel, *, stale: bool = False) -> CachedValue:
        text, fetched_at = entry
        # orjson: every read decodes its entries (a fresh copy each time, see _Entry), and
        # a nested GraphQL query reads hundreds.
        return CachedValue(value=orjson.loads(text), fetched_at=_to_datetime(fetched_at),
                           level=level, stale=stale,
                           age_seconds=max(0.0, time.time() - fetched_at))
