"""Ctrl-C and SIGTERM stop a foreground command even when they land inside ``Event.wait``.

Each case runs in a child process: a handler that deadlocks hangs the process it runs in,
and the child's timeout turns that hang into a failure instead of a stalled suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The main thread holds the event's internal lock, as ``Event.wait()`` does while it reads
# the flag, when the signal arrives: the moment a handler calling ``event.set()`` itself
# waits forever for its own thread.
SIGNAL_WHILE_WAIT_HOLDS_THE_LOCK = textwrap.dedent("""
    import signal, sys, threading
    from dictamesh.stop_signals import stop_on_signals

    stop = threading.Event()
    said = []
    with stop_on_signals(stop, announce=lambda received: said.append(received.name),
                         signals=[signal.SIGUSR1]):
        # NAIVE HANDLER
        with stop._cond:
            signal.raise_signal(signal.SIGUSR1)  # the handler runs here, in this thread
            set_while_held = stop.is_set()
        set_after_release = stop.wait(timeout=10)
    restored = signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    print(set_while_held, set_after_release, said, restored)
""")


def run_child(source: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", source], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_a_signal_inside_event_wait_sets_the_event_once_the_lock_is_free():
    finished = run_child(SIGNAL_WHILE_WAIT_HOLDS_THE_LOCK)
    assert finished.returncode == 0, finished.stderr
    # Not set while the main thread held the lock (the hand-over thread waits its turn),
    # set as soon as it let go; announced once; the earlier handler back afterwards.
    assert finished.stdout.split(maxsplit=2)[:2] == ["False", "True"]
    assert finished.stdout.strip().endswith("['SIGUSR1'] True")


def test_a_naive_handler_deadlocks_in_the_same_place():
    """The hazard the helper exists for is real: ``event.set()`` called straight from the
    handler never returns, and the child has to be killed."""
    naive = SIGNAL_WHILE_WAIT_HOLDS_THE_LOCK.replace(
        "# NAIVE HANDLER", "signal.signal(signal.SIGUSR1, lambda *_: stop.set())")
    try:
        finished = run_child(naive, timeout=5)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError(f"the naive handler did not hang: {finished}")
