"""The consumer groups' entry points: one table of groups → topic patterns → handlers.

The table is ``settings.EVENT_HANDLERS``; each handler is named by its dotted path, so the
apps that consume events (the catalog, federation's cache invalidation, next the sagas)
own their handlers and this app runs them without importing any app's internals:

    EVENT_HANDLERS = {
        "catalog": {                                   # the Kafka consumer group
            "*.entity_changed": [                      # a topic glob (``*`` crosses dots)
                "apps.catalog.event_handlers.apply_entity_changes",
                "apps.federation.event_handlers.invalidate_graphql_caches",
            ],
        },
    }

A handler takes a batch of one tenant's ``ConsumedEvent``s and runs inside that tenant's
schema and database transaction; the handlers of a topic run in the order listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from dictamesh.events.handlers import Handler, HandlerRegistry

# group -> topic glob -> dotted paths of handlers
HandlerTable = Mapping[str, Mapping[str, Sequence[str]]]


def _import_handler(group: str, path: str) -> Handler:
    try:
        handler = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"EVENT_HANDLERS[{group!r}] names {path!r}, which cannot be imported: {exc}"
        ) from exc
    if not callable(handler):
        raise ImproperlyConfigured(
            f"EVENT_HANDLERS[{group!r}] names {path!r}, which is not a function."
        )
    return handler


def handler_registry(table: HandlerTable | None = None) -> HandlerRegistry:
    """The routes of every group in ``table`` (default: ``settings.EVENT_HANDLERS``)."""
    registry = HandlerRegistry()
    for group, subscriptions in (settings.EVENT_HANDLERS if table is None else table).items():
        for pattern, paths in subscriptions.items():
            if isinstance(paths, str):
                raise ImproperlyConfigured(
                    f"EVENT_HANDLERS[{group!r}][{pattern!r}] is one string: give a list of "
                    "dotted paths, e.g. [\"apps.catalog.event_handlers.apply_entity_changes\"]."
                )
            try:
                register = registry.register(group, pattern)
            except ValueError as exc:
                raise ImproperlyConfigured(f"EVENT_HANDLERS[{group!r}]: {exc}") from exc
            for path in paths:
                register(_import_handler(group, path))
    return registry
