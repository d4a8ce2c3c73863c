"""A description is checked before anything runs, and each error names the field to fix."""

from __future__ import annotations

import pytest

from apps.adapters.declarative.description import DescriptionError, parse_description
from tests.declarative.conftest import SPEC, description


def _error(raw) -> DescriptionError:
    with pytest.raises(DescriptionError) as caught:
        parse_description(raw)
    return caught.value


def test_the_suppliers_description_is_valid():
    parsed = parse_description(SPEC)
    assert parsed.entity_type == "supplier"
    assert [f.name for f in parsed.fields][:3] == ["id", "name", "country"]
    assert parsed.relationships[0].reverse == "supplier"
    assert parsed.schema.key == "id"


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"changes": None}, "changes", "is required"),
    ({"list": {"records": "data"}}, "list.path", "is required"),
    ({"pagination": {"type": "pages"}}, "pagination", "cursor {cursor_param, next_cursor}"),
    ({"auth": {"type": "api_key"}}, "auth", "api_key {header, credential}"),
    ({"key": "sku"}, "key", "not one of the declared fields"),
    ({"get": {"path": "/api/suppliers"}}, "get.path", "{id}"),
    ({"list": {"path": "api/suppliers"}}, "list.path", "does not match"),
    ({"changes": {"cursor_field": "name"}}, "changes.cursor_field", "must be datetime"),
    ({"list": {"path": "/x", "filters": {"colour": "c"}}}, "list.filters", "colour"),
    ({"relationships": [{"field": "nope", "entity_type": "product", "type": "supplies"}]},
     "relationships.0.field", "not one of the declared fields"),
    ({"sla": {"availability": 2}}, "sla.availability", "2"),
])
def test_a_bad_description_names_the_field(changes, field, words):
    raw = description(**changes)
    if raw.get("changes") is None:
        del raw["changes"]
    error = _error(raw)
    assert error.field == field
    assert words in error.message


def test_a_field_type_outside_the_list_is_named_with_its_index():
    fields = [*SPEC["fields"][:2], {"name": "score", "type": "float"}, *SPEC["fields"][2:]]
    error = _error(description(fields=fields))
    assert error.field == "fields.2.type"
    assert "decimal" in error.message


def test_a_field_declared_twice_and_an_optional_key_are_refused():
    assert "declared twice" in _error(description(fields=[*SPEC["fields"], SPEC["fields"][1]]
                                                  )).message
    fields = [{**SPEC["fields"][0], "required": False}, *SPEC["fields"][1:]]
    error = _error(description(fields=fields))
    assert (error.field, "required" in error.message) == ("key", True)


def test_something_that_is_not_an_object_is_refused_plainly():
    assert "JSON (or YAML) object" in str(_error(["not", "a", "description"]))


def test_values_json_cannot_hold_are_refused_with_what_to_do():
    import datetime

    fields = [*SPEC["fields"], {"name": "since", "type": "string",
                                "description": datetime.date(2024, 1, 1)}]
    assert "quote dates" in str(_error(description(fields=fields)))
