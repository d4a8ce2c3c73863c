"""Event handlers: what a consumer group does with the events of the topics it follows.

A handler is a function registered for a consumer group and a topic pattern; it receives a
batch of decoded events of one tenant, in partition order, and applies them inside that
tenant's schema and database transaction (the runner opens both):

    def apply_entity_changes(events: Sequence[ConsumedEvent]) -> None:
        for event in events:
            services.register_entity(...)

    handlers = HandlerRegistry()
    handlers.register("catalog", "*.entity_changed")(apply_entity_changes)

A pattern is a glob over the whole topic name (``*`` also crosses dots) or a compiled
regular expression. Dead-letter topics (``*.dlq``) are never subscribed to.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dictamesh.events.topics import DLQ_SUFFIX


@dataclass(frozen=True, slots=True)
class ConsumedEvent:
    """A decoded event with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int
    tenant: str
    event_id: uuid.UUID
    schema_id: int
    record: dict[str, Any]
    value: bytes = field(repr=False)  # the wire bytes, for the dead-letter topic


Handler = Callable[[Sequence[ConsumedEvent]], None]
# Checks one decoded event before any transaction; raises PermanentError to dead-letter it.
EventValidator = Callable[[ConsumedEvent], None]
_VALIDATOR_ATTRIBUTE = "validate_event"


def validated_by(validator: EventValidator) -> Callable[[Handler], Handler]:
    """Decorator: the runner calls ``validator`` on each event for ``handler`` as it
    decodes it (in the consumer thread, before any transaction). What it refuses with a
    PermanentError goes to the dead-letter topic with its reason, as an undecodable
    message would, and never reaches a transaction where it could fail the batch::

        @validated_by(check_entity_change)
        def apply_entity_changes(events): ...
    """
    def decorate(handler: Handler) -> Handler:
        setattr(handler, _VALIDATOR_ATTRIBUTE, validator)  # noqa: B010 - a function attribute
        return handler

    return decorate


class RetryableError(Exception):
    """A transient failure (a service down, a lock timeout): the batch is retried, with
    backoff, until it succeeds. Nothing is skipped and no offset moves meanwhile."""


class PermanentError(Exception):
    """This event can never be applied: it goes to the dead-letter topic and the consumer
    moves on. Pass the offending ``event`` when the handler knows it; otherwise the runner
    finds it by applying the batch one event at a time."""

    def __init__(
        self, message: str, *, event: ConsumedEvent | None = None, reason: str = "rejected"
    ) -> None:
        super().__init__(message)
        self.event = event
        self.reason = reason


@dataclass(frozen=True)
class Route:
    """One handler of one consumer group, for the topics its pattern matches."""

    group: str
    pattern: re.Pattern[str]
    handler: Handler
    validator: EventValidator | None = None  # see ``validated_by``

    def matches(self, topic: str) -> bool:
        return self.pattern.match(topic) is not None


def compile_pattern(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """A glob (str) or a regex (compiled) as a regex that must match the whole topic name."""
    if isinstance(pattern, re.Pattern):
        if pattern.flags & ~re.UNICODE:
            raise ValueError(
                f"Topic regex {pattern.pattern!r}: write flags inline, e.g. '(?i:...)', so "
                "that it can be combined with the group's other patterns."
            )
        return re.compile(rf"(?:{pattern.pattern})\Z")
    if not pattern:
        raise ValueError("A topic pattern cannot be empty: use e.g. '*.entity_changed'.")
    return re.compile(fnmatch.translate(pattern))


def subscription_regex(routes: Sequence[Route], only: re.Pattern[str] | None = None) -> str:
    """The regex the Kafka consumer subscribes with: any route's topics, minus dead-letter
    topics, and only those ``only`` matches when given (e.g. ``consume --topics``)."""
    if not routes:
        raise ValueError("No routes to subscribe to.")
    union = "|".join(f"(?:{route.pattern.pattern})" for route in routes)
    restrict = f"(?=(?:{only.pattern}))" if only is not None else ""
    return rf"(?!.*\.{re.escape(DLQ_SUFFIX)}\Z){restrict}(?:{union})"


class HandlerRegistry:
    """The handlers of every consumer group, in registration order (like Sentry's consumer
    table). The platform fills one from its settings' table of handlers; tests and tools
    build their own and hand it to the runner."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def register(
        self, group: str, pattern: str | re.Pattern[str]
    ) -> Callable[[Handler], Handler]:
        """Decorator: ``handler`` applies the events of ``group`` on topics matching
        ``pattern``. A topic matched by several handlers of a group goes to each."""
        if not group:
            raise ValueError("A consumer group name cannot be empty.")
        compiled = compile_pattern(pattern)

        def decorate(handler: Handler) -> Handler:
            self._routes.append(Route(group=group, pattern=compiled, handler=handler,
                                      validator=getattr(handler, _VALIDATOR_ATTRIBUTE, None)))
            return handler

        return decorate

    def routes(self, group: str) -> tuple[Route, ...]:
        return tuple(route for route in self._routes if route.group == group)

    def groups(self) -> list[str]:
        return sorted({route.group for route in self._routes})
