"""Stopping a foreground command on SIGINT or SIGTERM without deadlocking it.

Python runs a signal handler in the main thread, between two bytecodes of whatever that
thread is doing. When it is inside ``Event.wait()`` it may hold the event's internal lock
at that moment (``wait`` takes it to read the flag and takes it again on the way out), and
a handler that calls ``event.set()`` then waits for a lock its own thread holds: the command
hangs on Ctrl-C until it is killed (python/cpython#126434 describes the same for
``multiprocessing.Event``). The handler here hands ``set`` to a short-lived thread instead,
which takes the lock as soon as the main thread lets go of it.

Anything the caller wants said about the signal is said from that thread too: writing to
stdout from inside the handler can meet the main thread halfway through its own write of
the same buffered stream, which raises ``RuntimeError: reentrant call``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(
    stop: threading.Event,
    *,
    announce: Callable[[signal.Signals], None] | None = None,
    signals: Iterable[signal.Signals] = STOP_SIGNALS,
) -> Iterator[None]:
    """Set ``stop`` when one of ``signals`` arrives, for the duration of the block.

    ``announce`` is called with the signal before ``stop`` is set, e.g. to print that the
    command is finishing its current batch. The previous handlers come back on exit.
    """

    def hand_over(received: signal.Signals) -> None:
        if announce is not None:
            announce(received)
        stop.set()

    def handler(signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=hand_over, args=(signal.Signals(signum),),
                         name="stop-signal", daemon=True).start()

    previous = {received: signal.signal(received, handler) for received in signals}
    try:
        yield
    finally:
        for received, earlier in previous.items():
            signal.signal(received, earlier)
