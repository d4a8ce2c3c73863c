"""The table of consumer groups → topics → handlers in the settings (no broker needed)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.catalog.event_handlers import apply_entity_changes
from apps.events.routes import handler_registry
from apps.federation.event_handlers import invalidate_graphql_caches


def test_the_catalog_group_applies_entity_changes_then_invalidates_graphql_caches():
    routes = handler_registry().routes("catalog")

    topic = "acme.customers.directus.entity_changed"
    assert [route.handler for route in routes if route.matches(topic)] == [
        apply_entity_changes, invalidate_graphql_caches,
    ]
    assert not any(route.matches("acme.system.metadata.entity_registered") for route in routes)


def test_a_handler_path_that_does_not_import_names_the_group_and_the_path():
    table = {"billing": {"*.invoice_paid": ["apps.billing.handlers.nowhere"]}}
    with pytest.raises(ImproperlyConfigured,
                       match=r"EVENT_HANDLERS\['billing'\] names 'apps.billing.handlers.nowhere'"):
        handler_registry(table)


def test_a_path_that_is_not_a_function_is_refused():
    table = {"g": {"*": ["config.settings.DEBUG"]}}
    with pytest.raises(ImproperlyConfigured, match="not a function"):
        handler_registry(table)


def test_one_string_instead_of_a_list_is_refused_rather_than_read_letter_by_letter():
    table = {"g": {"*": "apps.catalog.event_handlers.apply_entity_changes"}}
    with pytest.raises(ImproperlyConfigured, match="give a list of dotted paths"):
        handler_registry(table)


def test_an_empty_topic_pattern_is_a_configuration_error():
    table = {"g": {"": ["apps.catalog.event_handlers.apply_entity_changes"]}}
    with pytest.raises(ImproperlyConfigured, match="cannot be empty"):
        handler_registry(table)
