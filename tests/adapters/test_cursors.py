"""Change cursors keep their stored form: a poller's cursor saved before an upgrade resumes
after it, neither repeating nor skipping changes."""

from __future__ import annotations

from typing import Any

import pytest

from apps.adapters.base import SourceChange
from apps.adapters.cursors import encode_cursor
from tests.adapters.conftest import all_changes


def _stored_form(name: str, change: SourceChange) -> str:
    """The change cursor an adapter stored for ``change``, spelled the way it always was."""
    values: dict[str, Any] = {"at": change.occurred_at.isoformat()}
    if name == "directus":
        values["id"] = int(change.entity_id)
    elif name == "products":
        values["sku"] = change.entity_id
    else:
        values.update(id=change.entity_id, source=None)
    return encode_cursor(f"{name}-changes", **values)


@pytest.mark.parametrize("name", ["directus", "products", "ecommerce"])
def test_a_stored_change_cursor_resumes_where_it_stopped(make_adapter, name):
    changes, last_cursor = all_changes(make_adapter(name))
    assert len(changes) > 10
    # The final cursor is the stored form of the last change.
    assert last_cursor == _stored_form(name, changes[-1])
    # A cursor stored mid-way resumes with exactly the changes after it.
    middle = len(changes) // 2
    resumed, _ = all_changes(make_adapter(name), _stored_form(name, changes[middle]))
    assert [c.entity_id for c in resumed] == [c.entity_id for c in changes[middle + 1:]]
