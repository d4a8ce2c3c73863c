"""Failures are classified from what the real database and handlers raise, not from names."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from dictamesh.events.failures import FailureKind, as_permanent, classify
from dictamesh.events.handlers import PermanentError, RetryableError
from tests.sagas.worker_process import _database_url


def raised_by(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except BaseException as exc:  # noqa: BLE001 - the point is to capture it
        return exc
    raise AssertionError("the action raised nothing")


def _sql(statement: str) -> Callable[[], object]:
    def run() -> object:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
        return None

    return run


@pytest.fixture
def scratch_table(db) -> Iterator[str]:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE failure_probe (id varchar(5) PRIMARY KEY, doc jsonb)")
        cursor.execute("INSERT INTO failure_probe VALUES ('taken', '{}')")
    yield "failure_probe"
    with connection.cursor() as cursor:  # committed when the test is transactional
        cursor.execute("DROP TABLE IF EXISTS failure_probe")


@pytest.mark.parametrize(("statement", "reason"), [
    ("INSERT INTO failure_probe VALUES ('too long for five', '{}')", "data_error"),
    ("INSERT INTO failure_probe VALUES ('nul', '{\"name\": \"a\\u0000b\"}')", "data_error"),
    ("INSERT INTO failure_probe VALUES ('taken', '{}')", "integrity_error"),
])
def test_bad_data_from_postgresql_is_permanent(scratch_table, statement, reason):
    exc = raised_by(_sql(statement))
    assert isinstance(exc, DatabaseError)
    assert classify(exc) is FailureKind.PERMANENT
    assert as_permanent(exc).reason == reason


def test_a_lock_wait_that_times_out_is_transient(scratch_table, transactional_db):
    holder = psycopg.connect(_database_url())
    try:
        holder.execute("LOCK TABLE failure_probe IN ACCESS EXCLUSIVE MODE")
        exc = raised_by(_sql("SET LOCAL lock_timeout = '50ms'; SELECT * FROM failure_probe"))
    finally:
        holder.rollback()
        holder.close()
    assert classify(exc) is FailureKind.TRANSIENT


def test_a_terminated_connection_is_transient(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(_database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    exc = raised_by(_sql("SELECT 1"))
    connection.close()
    assert classify(exc) is FailureKind.TRANSIENT


def test_a_refused_connection_is_transient():
    exc = raised_by(lambda: psycopg.connect("postgresql://postgres@127.0.0.1:1/none",
                                            connect_timeout=2))
    assert classify(exc) is FailureKind.TRANSIENT


def test_a_statement_timeout_is_unknown_so_it_is_retried_a_bounded_number_of_times(db):
    exc = raised_by(_sql("SET LOCAL statement_timeout = '20ms'; SELECT pg_sleep(1)"))
    assert classify(exc) is FailureKind.UNKNOWN
    assert as_permanent(exc, gave_up=True).reason == "apply_failed"


@pytest.mark.parametrize(("exc", "kind"), [
    (KeyError("event_type"), FailureKind.PERMANENT),
    (TypeError("'NoneType' object is not subscriptable"), FailureKind.PERMANENT),
    (ValueError("invalid literal"), FailureKind.PERMANENT),
    (PermanentError("no", reason="invalid_customer"), FailureKind.PERMANENT),
    (RetryableError("the index is restarting"), FailureKind.TRANSIENT),
    (ConnectionResetError(), FailureKind.TRANSIENT),
    (RuntimeError("a bug"), FailureKind.UNKNOWN),
])
def test_handler_exceptions(exc, kind):
    assert classify(exc) is kind


def test_a_handler_error_becomes_a_dead_letter_reason_with_its_message():
    letter = as_permanent(KeyError("event_type"))
    assert letter.reason == "handler_error"
    assert str(letter) == "KeyError: 'event_type'"
