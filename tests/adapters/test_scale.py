"""Paging and change detection over 10,000 records deliver each record exactly once."""

from __future__ import annotations

import pytest

from apps.adapters.base import EntityQuery
from devtools.reference import Sizes
from tests.adapters.conftest import SEED, all_changes

LARGE = Sizes(customers=10_000, products=10_000, invoices=10_000)
SOURCES = [("directus", "customer"), ("products", "product"), ("ecommerce", "invoice")]


@pytest.fixture
def large(sources):
    """The session's servers, reseeded big for one test (the next test's reset shrinks
    them again)."""
    sources.reseed(SEED, LARGE)
    return sources


@pytest.mark.parametrize(("name", "entity_type"), SOURCES, ids=[s[0] for s in SOURCES])
def test_pages_and_changes_cover_ten_thousand_records_once(large, make_adapter, name,
                                                           entity_type):
    adapter = make_adapter(name, change_batch_size=500)
    seen, cursor = [], None
    while True:
        page = adapter.query_entities(entity_type, EntityQuery(page_size=500, cursor=cursor))
        seen += [entity.id for entity in page.entities]
        if not (cursor := page.next_cursor):
            break
    assert len(seen) == len(set(seen)) == 10_000

    changes, _ = all_changes(adapter)
    assert len(changes) == len({c.entity_id for c in changes}) == 10_000
    assert [c.occurred_at for c in changes] == sorted(c.occurred_at for c in changes)
