"""The catalog consumer group's handlers running in a thread, for end-to-end tests."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from apps.catalog.event_handlers import apply_entity_changes
from apps.events.consumers import build_runner
from apps.federation.event_handlers import invalidate_graphql_caches
from dictamesh.events.handlers import HandlerRegistry


@contextmanager
def catalog_consumer(topics: str, name: str = "e2e") -> Iterator[None]:
    """The catalog group's handlers (catalog ingest, GraphQL cache invalidation) consuming
    the topics matching ``topics`` while the block runs, under a group of the block's own,
    so no other consumer of the shared broker takes its partitions."""
    group = f"catalog-{name}-{uuid.uuid4().hex[:8]}"
    handlers = HandlerRegistry()
    handlers.register(group, "*.entity_changed")(apply_entity_changes)
    handlers.register(group, "*.entity_changed")(invalidate_graphql_caches)
    stop = threading.Event()
    runner = build_runner(group, topics=re.compile(topics), handlers=handlers,
                          stop_event=stop)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
