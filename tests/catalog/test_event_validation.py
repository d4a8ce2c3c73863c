"""What the catalog refuses before any transaction, and what it lets through."""

from __future__ import annotations

import json

import pytest

from apps.catalog.event_validation import check_entity_change
from dictamesh.events.handlers import PermanentError
from dictamesh.events.payload import PayloadRelationship
from tests.catalog.test_ingest import change_event


def _refusal(event) -> str:
    with pytest.raises(PermanentError) as refused:
        check_entity_change(event)
    assert refused.value.event is event
    return str(refused.value)


def test_storable_events_pass():
    check_entity_change(change_event("t", "customer", "c" * 255, 1, {"name": "Ada"}))
    check_entity_change(change_event("t", "invoice", "INV-1", 1, {"total": "1"}, [
        PayloadRelationship("billed_to", "customer", "9" * 255)]))
    # An escaped backslash before "u0000" is text, not a NUL character.
    check_entity_change(change_event("t", "customer", "c1", 1, {"path": "C:\\u0000"}))


def test_an_id_longer_than_its_column_is_refused_with_the_limit():
    message = _refusal(change_event("t", "customer", "c" * 256, 1, {}))
    assert "entity.id has 256 characters" in message
    assert "at most 255" in message


@pytest.mark.parametrize("attributes", [
    {"name": "Ada\u0000"}, {"tags": ["ok", "b\u0000d"]}, {"nested": {"k\u0000": 1}},
])
def test_a_nul_character_anywhere_in_the_attributes_is_refused(attributes):
    event = change_event("t", "customer", "c1", 1, attributes)
    assert "\\u0000" in event.record["payload"]
    assert "NUL character" in _refusal(event)


def test_a_nul_character_in_the_entity_id_is_refused():
    assert "entity.id contains a NUL character" in _refusal(
        change_event("t", "customer", "c\u00001", 1, {}))


def test_a_relationship_to_an_id_too_long_is_refused():
    event = change_event("t", "invoice", "INV-1", 1, {}, [
        PayloadRelationship("billed_to", "customer", "9" * 400)])
    assert "payload.relationships[0].object.id has 400 characters" in _refusal(event)


def test_a_payload_with_broken_relationships_is_refused_as_bad_payload():
    event = change_event("t", "invoice", "INV-1", 1, {}, payload=json.dumps(
        {"attributes": {}, "relationships": [{"type": "billed_to"}]}))
    with pytest.raises(PermanentError) as refused:
        check_entity_change(event)
    assert refused.value.reason == "bad_payload"
