"""The `live` consumer group's handler: change events onto the channel layer.

A group of its own (EVENT_HANDLERS["live"] in the settings) rather than a rider on the
catalog group: subscribers then never wait for the catalog's writes, and a slow or failing
Redis channel layer never holds back the catalog. It runs on the same consumer runner as
every group (dedupe by event id, per-tenant batches, Ctrl-C and restarts), in the Celery
worker (KAFKA_WORKER_CONSUMER_GROUPS) or as `manage.py consume --group live`.

Delivery to sockets is at most once: the messages are sent after the runner's transaction
commits (the dedupe record with it), and a channel whose buffer is full drops them
(channels-redis' capacity). A subscriber that must not miss a change reads the state
again after it reconnects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from prometheus_client import Counter

from apps.federation.subscriptions.messages import MESSAGE_TYPE, live_messages
from dictamesh.events.handlers import ConsumedEvent
from dictamesh.observability.logging import get_logger

log = get_logger(__name__)

PUBLISHED = Counter("dictamesh_live_events_published",
                    "Change events sent to the subscription channel layer, by kind.", ["kind"])
PUBLISH_FAILED = Counter("dictamesh_live_publish_failed",
                         "Batches of live events the channel layer refused (Redis down).")


async def _send_all(messages: list[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    for group, message in messages:
        await layer.group_send(group, {"type": MESSAGE_TYPE, "group": group, **message})


def publish(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Send ``messages`` (group, message) now, in order; a Redis failure is logged and
    counted, never raised (live delivery is at most once, see the module's docstring)."""
    if not messages:
        return
    try:
        async_to_sync(_send_all)(messages)
    except Exception:  # noqa: BLE001 - Redis errors of any kind; the events stay applied
        PUBLISH_FAILED.inc()
        log.exception("live events not delivered to subscribers", count=len(messages))
        return
    for _, message in messages:
        PUBLISHED.labels(message["kind"]).inc()


def publish_live_events(events: Sequence[ConsumedEvent]) -> None:
    messages = list(live_messages(events))
    transaction.on_commit(lambda: publish(messages))
