"""Deep, oscillating Python recursion without CPython 3.11's data-stack chunk thrashing.

CPython keeps frames in 16 KiB chunks of a per-thread data stack; a chunk is unmapped as
soon as the first frame in it returns, and mapped again (page faults included) by the next
call that does not fit the chunk below. A recursion that keeps crossing one chunk boundary,
as a nested GraphQL execution does once per object or list item, pays an mmap, a munmap and
a few page faults per crossing. Whether it does depends on the call depth it starts at, so a
server thread a few frames deeper than another can take half again as long for the same
query (measured: ~2,260 page faults and ~20 ms of system time per 100-customer nested query
in one thread, none in another). CPython fixed this in 3.13/3.14 by caching one chunk per
thread (python/cpython#142183, PR #145789); 3.11 has no such cache.

:func:`call_with_frame_room` runs a call inside a frame that reserves a large stack area:
the frame never fits the current chunk, so it starts a chunk of its own, sized for it plus
room for every frame the call pushes. That chunk lives as long as the call, so nothing in it
crosses a boundary; only the pages actually used are ever touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: stack slots (8 bytes each) the runner's frame reserves: 64 KiB, so its chunk is 128 KiB
#: and leaves ~62 KiB (about 7,800 slots, a few hundred frames) for the call below it
RESERVED_SLOTS = 8192


def call_with_frame_room(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, its frames in a data-stack chunk of their own."""
    return call(*args, **kwargs)


# A larger co_stacksize only makes the frame reserve more slots (the interpreter never uses
# more than the code needs); CodeType.replace validates the new code object.
call_with_frame_room.__code__ = call_with_frame_room.__code__.replace(
    co_stacksize=RESERVED_SLOTS)
