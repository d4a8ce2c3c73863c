"""A quick Ctrl-C and restart of `manage.py consume`, as a developer does it.

A member stopped while its group join is on its way must not wedge the group: on the
development broker, a member that sent LeaveGroup right after the join made it the group's
leader kept the group unassignable for good (the next member waited forever for an
assignment that never came). It now closes without LeaveGroup, like a crashed member.

This test has a broker of its own, as a developer's `make run` has: on the suite's shared
broker, the hundreds of topics other tests create and delete change the metadata under a
pattern subscription and keep restarting joins, which is not what is tested here.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from devtools import broker
from tests.events.consumers.conftest import Topics, effects, publish, wait_for
from tests.sagas.worker_process import _database_url

ROOT = Path(__file__).resolve().parents[3]
EXIT_SECONDS = 30
# A restart after a mid-join stop waits out the old member's session timeout (6 s) and a
# join (~3 s): about 11 s on the development broker; a wedged group, forever.
ASSIGNED_SECONDS = 45


@pytest.fixture
def own_broker(tmp_path) -> Iterator[str]:
    """A Tansu broker for this test alone, on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        bootstrap = f"127.0.0.1:{probe.getsockname()[1]}"
    process = broker.start(bootstrap, log_path=tmp_path / "broker.log")
    yield bootstrap
    process.terminate()
    process.wait(timeout=10)


class ConsumeProcess:
    """One `manage.py consume` process; its output lines are collected as they come."""

    def __init__(self, group: str, topics: str, bootstrap: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "tests.events.consumers.consume_process", group, topics],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "DATABASE_URL": _database_url(), "LOG_FORMAT": "json",
                 "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                 "KAFKA_CONSUMER_BATCH_MAX_WAIT_MS": "100"})
        self.lines: list[str] = []
        self._seen: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            self._seen.put((time.monotonic(), line))

    def wait_for_line(self, text: str, timeout: float = 60.0, before: str = "") -> float:
        """When the line containing ``text`` came (the monotonic clock)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen_at, line = self._seen.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self._seen.empty():
                    break
                continue
            if text in line:
                return seen_at
        raise AssertionError(f"no {text!r} line within {timeout}s; output:\n{before}{self.output}")

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def interrupt(self) -> int:
        """Ctrl-C; the exit code, once it has exited."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=EXIT_SECONDS)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_ctrl_c_during_the_group_join_then_an_immediate_restart_consumes_within_seconds(
    effect_table, group, codec, own_broker
):
    alpha, _ = effect_table
    topics = Topics(own_broker)
    producer = KafkaProducer(bootstrap_servers=own_broker)
    topic = topics.create(alpha)
    pattern = f"{alpha}.{topics.token}.*"
    first = ConsumeProcess(group, pattern, own_broker)
    second = None
    try:
        first.wait_for_line('"joining the group"')
        assert first.interrupt() == 0, first.output
        before_ctrl_c, after_ctrl_c = first.output.split("SIGINT", 1)
        left = f"LeaveGroup request for group {group} returned successfully"
        if "partitions assigned" in before_ctrl_c:
            # A slow machine delivered the signal after the join: a stable member leaves.
            assert left in after_ctrl_c, first.output
        else:
            # Stopped mid-join: no LeaveGroup (the one that wedged the group), the broker
            # drops the member after its session timeout.
            assert "closing without LeaveGroup" in after_ctrl_c, first.output
            assert "Leaving consumer group" not in after_ctrl_c, first.output

        second = ConsumeProcess(group, pattern, own_broker)
        started = second.wait_for_line('"consumer started"')
        assigned = second.wait_for_line('"partitions assigned"', timeout=ASSIGNED_SECONDS,
                                        before=first.output)
        assert assigned - started < ASSIGNED_SECONDS

        sent = publish(producer, codec, topic, alpha, 10)  # a codec that registers anew
        wait_for(lambda: len(effects(alpha)) == 10, timeout=30, what="10 events applied")
        assert second.interrupt() == 0, second.output
        assert sorted(str(row[0]) for row in effects(alpha)) == sorted(r["event_id"] for r in sent)
    finally:
        first.kill()
        if second is not None:
            second.kill()
        producer.close()
        topics.close()


def test_a_member_closed_mid_join_can_be_made_to_skip_its_leave_group(kafka_bootstrap):
    # The fallback when a join never settles relies on kafka-python sending no LeaveGroup
    # for a static member; this fails if an upgrade changes how that is decided.
    from kafka import KafkaConsumer

    from dictamesh.events.consumer import _skip_leave_group

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id="skip-leave-probe")
    try:
        assert consumer._coordinator.is_dynamic_member()
        _skip_leave_group(consumer)
        assert not consumer._coordinator.is_dynamic_member()
    finally:
        consumer.close()
