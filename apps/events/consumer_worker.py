"""The Celery worker's consumer groups: one background thread per group.

    ConsumerThreads(["catalog"]).start()       # what KafkaConsumersStep does in the worker
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from celery import bootsteps
from django.conf import settings

from apps.events.consumers import build_runner
from apps.events.routes import handler_registry
from dictamesh.events.consumer import ConsumerRunner
from dictamesh.observability.logging import get_logger

log = get_logger(__name__)


class ConsumerThreads:
    """The consumer groups a process runs in the background, one thread per group: the
    service the Celery worker bootstep starts and stops."""

    def __init__(self, groups: Sequence[str], join_timeout_seconds: float = 30.0) -> None:
        self.groups = list(groups)
        self._join_timeout = join_timeout_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        registry = handler_registry()
        for group in self.groups:
            if not registry.routes(group):
                # Not fatal: a worker must not refuse to run tasks because an app has not
                # registered its handlers yet.
                log.warning("consumer group has no handlers; not started", group=group,
                            hint=f"add {group!r} to EVENT_HANDLERS, or drop it from "
                                 "KAFKA_WORKER_CONSUMER_GROUPS")
                continue
            runner = build_runner(group, handlers=registry, stop_event=self._stop)
            thread = threading.Thread(
                target=self._supervise, args=(runner,), name=f"consumer-{group}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Let each runner finish its batch and commit, then return."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self._join_timeout)
            if thread.is_alive():
                log.warning("consumer thread did not stop in time; its batch is redelivered",
                            thread=thread.name)
        self._threads.clear()

    def _supervise(self, runner: ConsumerRunner) -> None:
        """Run ``runner`` until stopped, restarting it after an unexpected crash."""
        while not self._stop.is_set():
            try:
                runner.run()
            except Exception:  # noqa: BLE001 - keep the worker's consumer alive; it's logged
                log.exception("consumer crashed; restarting", group=runner.group)
                self._stop.wait(runner.settings.retry_backoff_max_ms / 1000)


class KafkaConsumersStep(bootsteps.StartStopStep):
    """The Celery worker's consumer groups (KAFKA_WORKER_CONSUMER_GROUPS; empty: none).
    On warm shutdown each finishes and commits its batch."""

    label = "Kafka consumers"
    # Start after the pool has forked: children must not inherit these threads' connections.
    requires = ("celery.worker.components:Pool",)

    def include_if(self, parent: Any) -> bool:
        return bool(settings.KAFKA_WORKER_CONSUMER_GROUPS)

    def create(self, parent: Any) -> Any:
        # The step's service: StartStopStep starts it, and stops it on warm and on cold
        # shutdown alike (stop() is its terminate()).
        return ConsumerThreads(settings.KAFKA_WORKER_CONSUMER_GROUPS)
