"""The runner's shortcuts behave as the general code they stand in for."""

from __future__ import annotations

import gc
import uuid
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dictamesh.events import gc_policy
from dictamesh.events.consumer import _event_id, _Poison

MESSAGE = SimpleNamespace(topic="acme.a.b.entity_changed", partition=0, offset=7)
_hex_or_not = st.text(alphabet="0123456789abcdefABCDEF-_+ {}xg", min_size=36, max_size=36)


@given(text=st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | _hex_or_not)
def test_an_event_id_of_36_characters_reads_as_uuid_reads_it(text: str) -> None:
    try:
        expected: uuid.UUID | None = uuid.UUID(text)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(_Poison):
            _event_id({"event_id": text}, MESSAGE)
    else:
        parsed = _event_id({"event_id": text}, MESSAGE)
        assert parsed == expected
        assert str(parsed) == str(expected)
        assert hash(parsed) == hash(expected)


def test_the_streaming_gc_policy_collects_young_objects_less_often() -> None:
    middle_and_old = gc.get_threshold()[1:]
    gc_policy.tune_for_streaming()
    gc_policy.tune_for_streaming()  # a second runner in the process changes nothing more
    assert gc.get_threshold() == (gc_policy.YOUNG_GENERATION_THRESHOLD, *middle_and_old)
