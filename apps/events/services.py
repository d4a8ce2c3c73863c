"""The events app's public API: what other apps call to publish events.

Publishing writes to the current tenant's outbox in the caller's database transaction, so
an event exists exactly when the change that caused it is committed; the worker's relay
sends it to Kafka afterwards. Give ``publish_events`` the Avro records (it encodes them
with the registry's schema ids), or ``publish`` bytes already encoded:

    with transaction.atomic():
        ...  # change the entity (locking its row) first, so order per key holds
        services.publish_events([OutgoingEvent("customers.directus.entity_changed",
                                               key=entity_id, schema=schema, record=record)])

Consuming is configured, not called: a consumer group's handlers are listed in
``settings.EVENT_HANDLERS`` and the worker runs them (see ``routes.py``).
"""

from __future__ import annotations

from apps.events.consumers import purge_processed
from apps.events.contracts import OutboxError, OutgoingEvent
from apps.events.outbox import (
    get_codec,
    physical_topic,
    publish,
    publish_event,
    publish_events,
    purge_sent,
)

__all__ = [
    "OutboxError",
    "OutgoingEvent",
    "get_codec",
    "physical_topic",
    "publish",
    "publish_event",
    "publish_events",
    "purge_processed",  # retention (apps/catalog/retention.py)
    "purge_sent",
]
