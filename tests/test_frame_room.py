"""call_with_frame_room: a recursion that crosses a data-stack chunk boundary over and over
maps no chunk per crossing inside it. Counted in page faults of the calling thread (a count
the machine's load does not change), not in time."""

from __future__ import annotations

import resource
from collections.abc import Callable

import pytest

from dictamesh.frame_room import call_with_frame_room

CROSSINGS = 2000


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def _descend(depth: int) -> int:
    return 1 if depth == 0 else _descend(depth - 1)


def _oscillate() -> int:
    """A tree walk's shape: down 30 frames and back, CROSSINGS times."""
    return sum(_descend(30) for _ in range(CROSSINGS))


def _at_depth(depth: int, call: Callable[[], int]) -> int:
    return call() if depth == 0 else _at_depth(depth - 1, call)


def _faults_at(depth: int, call: Callable[[], int]) -> int:
    before = _minor_faults()
    assert _at_depth(depth, call) == CROSSINGS
    return _minor_faults() - before


def test_a_recursion_at_a_chunk_boundary_maps_no_chunk_per_crossing() -> None:
    # The interpreter's behaviour this module exists for (CPython 3.11): at some starting
    # depth within a chunk's worth of frames, every crossing faults a new chunk in.
    thrashing = [depth for depth in range(0, 400, 3)
                 if _faults_at(depth, _oscillate) >= CROSSINGS]
    assert thrashing, "no starting depth made the recursion map a chunk per crossing"
    for depth in thrashing:
        assert _faults_at(depth, lambda: call_with_frame_room(_oscillate)) < CROSSINGS / 20


def test_arguments_results_and_errors_pass_through() -> None:
    assert call_with_frame_room(lambda a, b=0: (a, b), 1, b=2) == (1, 2)
    with pytest.raises(KeyError, match="missing"):
        call_with_frame_room({}.__getitem__, "missing")
