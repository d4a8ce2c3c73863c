"""The three-level entity cache (process memory, Redis, the catalog) used around every
source adapter, and its cross-process invalidation."""

from dictamesh.cache.invalidation import (
    InvalidationBus,
    get_invalidation_bus,
    reset_invalidation_bus,
)
from dictamesh.cache.tiered import (
    CachedValue,
    CacheLevel,
    CachePolicy,
    L3Store,
    SourceUnavailableNoCache,
    StoredEntry,
    TieredCache,
)

__all__ = [
    "CacheLevel",
    "CachePolicy",
    "CachedValue",
    "InvalidationBus",
    "L3Store",
    "SourceUnavailableNoCache",
    "StoredEntry",
    "TieredCache",
    "get_invalidation_bus",
    "reset_invalidation_bus",
]
