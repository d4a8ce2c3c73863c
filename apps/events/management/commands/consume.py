"""`manage.py consume --group NAME [--topics GLOB]`: run one consumer group in the foreground.

The same runner the Celery worker starts in a thread, for operations and debugging: it
prints its progress and, on Ctrl-C (or SIGTERM), finishes its batch, commits and exits.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from apps.events.consumers import build_runner
from dictamesh.events.consumer import BatchReport
from dictamesh.stop_signals import stop_on_signals

_PRINT_EVERY_SECONDS = 1.0


class Progress:
    """Running totals, printed at most once a second so a busy consumer stays readable."""

    def __init__(self, out: OutputWrapper) -> None:
        self._out = out
        self.applied = self.duplicates = self.dead_lettered = 0
        self.lag: int | None = None
        self._printed_at = 0.0

    def __call__(self, report: BatchReport) -> None:
        self.applied += report.applied
        self.duplicates += report.duplicates
        self.dead_lettered += report.dead_lettered
        self.lag = report.lag
        if time.monotonic() - self._printed_at >= _PRINT_EVERY_SECONDS:
            self.print()

    def print(self) -> None:
        self._printed_at = time.monotonic()
        lag = "unknown" if self.lag is None else str(self.lag)
        self._out.write(
            f"applied {self.applied}, duplicates skipped {self.duplicates}, "
            f"dead-lettered {self.dead_lettered}, lag {lag}"
        )


class Command(BaseCommand):
    help = "Run a consumer group until Ctrl-C, printing its progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", required=True, help="the consumer group, e.g. catalog")
        parser.add_argument(
            "--topics",
            help="only the group's topics matching this glob, e.g. 'acme.*' for one tenant",
        )

    def handle(self, *args: Any, group: str, topics: str | None, **options: Any) -> None:
        stop = threading.Event()
        progress = Progress(self.stdout)
        try:
            runner = build_runner(group, topics=topics, stop_event=stop, on_batch=progress)
        except (ImproperlyConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from exc

        def announce(received: signal.Signals) -> None:
            self.stdout.write(f"{received.name}: finishing the current batch...")

        self.stdout.write(f"Consuming as group {group!r}; Ctrl-C to stop.")
        with stop_on_signals(stop, announce=announce):
            runner.run()
        progress.lag = runner.lag  # measured after the last commit, not before the batch
        progress.print()
        self.stdout.write(self.style.SUCCESS("Stopped; every applied event is committed."))
