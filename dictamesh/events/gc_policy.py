"""The garbage collector's settings for the processes that move events.

Measured in the consumer runner: with CPython's defaults (a young collection every 700
allocations, and with them the older generations' passes over the ~150,000 objects of a
Django process, none of which ever becomes garbage), a batch of a thousand decoded events
triggers dozens of collections. That doubled the runner's CPU per event (decoding 47 -> 23
us) and slowed kafka-python's own polling alike (32 -> 14 us).

``tune_for_streaming`` lets young objects pile up to ``YOUNG_GENERATION_THRESHOLD``
allocations between collections. Reference counting still frees almost everything at once;
only garbage in reference cycles waits for a collection, and at most that many young
objects of it, so memory stays flat (``bench/bench_consumer_memory.py``). Freezing the
startup objects as well (``gc.freeze``) measured no better, and would keep for good any of
them that later became cyclic garbage, so it is not done.
"""

from __future__ import annotations

from dictamesh.heap import DEFAULT_GEN0_THRESHOLD, raise_young_generation_threshold

YOUNG_GENERATION_THRESHOLD = DEFAULT_GEN0_THRESHOLD


def tune_for_streaming() -> None:
    """Apply the policy to this process (idempotent)."""
    raise_young_generation_threshold(YOUNG_GENERATION_THRESHOLD)
