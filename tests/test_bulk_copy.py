"""Binary COPY and staging tables (dictamesh.bulk_copy) on the real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db import DataError, connection, transaction

from dictamesh.bulk_copy import StagingTable, copy_rows

STAGE = StagingTable("test_stage_rows", (("n", "int8"), ("label", "varchar"),
                                         ("doc", "jsonb")))


def take(cursor) -> list[tuple]:
    cursor.execute(f"WITH x AS ({STAGE.take()}) SELECT n, label, doc FROM x ORDER BY n")
    # Django's connection hands jsonb over as text (its JSONField parses it).
    return [(n, label, doc if doc is None else json.loads(doc))
            for n, label, doc in cursor.fetchall()]


@pytest.mark.django_db
def test_each_load_is_taken_once_and_a_rolled_back_savepoint_takes_its_rows_back():
    with transaction.atomic(), connection.cursor() as cursor:
        STAGE.load(cursor, [(1, "one", {"a": [1, "é"]}), (2, None, None)])
        assert take(cursor) == [(1, "one", {"a": [1, "é"]}), (2, None, None)]
        STAGE.load(cursor, [(3, "three", {})])
        assert take(cursor) == [(3, "three", {})]  # not 1 and 2 again
        with pytest.raises(DataError), transaction.atomic():
            STAGE.load(cursor, [(4, "four", {"bad": float("nan")})])  # jsonb refuses NaN
        STAGE.load(cursor, [(5, "five", [])])
        assert take(cursor) == [(5, "five", [])]


@pytest.mark.django_db
def test_copied_rows_keep_their_types_and_order():
    rows = [(uuid.uuid4(), n, datetime(2026, 11, 1, n, tzinfo=UTC), bytes([0, n]), [n])
            for n in range(5)]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE test_copied (id bigserial, u uuid, n int4, "
                       "at timestamptz, raw bytea, doc jsonb)")
        copy_rows(cursor, "pg_temp.test_copied", ("u", "n", "at", "raw", "doc"),
                  ("uuid", "int4", "timestamptz", "bytea", "jsonb"), rows)
        cursor.execute("SELECT u, n, at, raw, doc FROM pg_temp.test_copied ORDER BY id")
        copied = [(u, n, at, bytes(raw), json.loads(doc))
                  for u, n, at, raw, doc in cursor.fetchall()]
        cursor.execute("DROP TABLE pg_temp.test_copied")
    assert copied == rows
