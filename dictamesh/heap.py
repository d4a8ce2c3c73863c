"""The garbage collector of a long-running web process, settled once start-up is done.

A web worker holds ~150k long-lived objects after start-up (Django, the apps, the GraphQL
schemas), and a nested GraphQL answer allocates tens of thousands of containers more. With
CPython's defaults (a young collection every 700 net allocations) one request triggered
~100 young collections and, every other request, a full collection that walked the whole
start-up heap again: ≈55% of a warm 100-customer query (bench/bench_graphql.py).

So, once the process has loaded what it will keep:
- ``gc.freeze()`` moves every object alive now to the permanent generation, which no
  collection scans (after a fork, this also keeps pages shared with the parent);
- a higher young-generation threshold lets a request's short-lived objects die by reference
  counting before a collection ever looks at them. Cycles are still collected, just in
  larger, rarer batches.
"""

from __future__ import annotations

import gc

#: young-generation threshold of web and event processes: a collection per this many net
#: allocations (measured in bench/bench_graphql.py and bench/bench_consumer.py)
DEFAULT_GEN0_THRESHOLD = 50_000


def raise_young_generation_threshold(gen0_threshold: int = DEFAULT_GEN0_THRESHOLD) -> None:
    """Collect the young generation every ``gen0_threshold`` allocations; the older
    generations' thresholds stay (idempotent)."""
    if gen0_threshold < 1:
        raise ValueError(f"gen0_threshold={gen0_threshold}: expected an integer >= 1")
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def settle_after_startup(gen0_threshold: int = DEFAULT_GEN0_THRESHOLD) -> None:
    """Collect once, freeze what survived, and raise the young-generation threshold (the
    older generations' thresholds stay). Call it when start-up is complete."""
    gc.collect()
    gc.freeze()
    raise_young_generation_threshold(gen0_threshold)
