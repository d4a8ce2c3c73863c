"""Bulk writes through PostgreSQL's binary COPY, for the consumers' per-batch writes.

A batch of a thousand events passed as statement parameters costs more in Python than in
the database: Django's psycopg cursor binds parameters on the client, quoting each array
element with a regular expression. Binary COPY sends typed values as they are (psycopg's C
row formatter), so a batch costs a few microseconds per row in Python.

COPY appends and cannot say ``ON CONFLICT`` or ``RETURNING``. Where a write needs them, the
rows are copied into a ``StagingTable`` (a temporary table of the session, emptied at each
commit) and one statement moves them into the real table, consuming the staging rows:

    ENTITIES = StagingTable("stage_entities", (("entity_id", "varchar"), ...))
    ENTITIES.load(cursor, rows)          # inside a transaction
    cursor.execute(f"WITH x AS ({ENTITIES.take()}) INSERT INTO ... SELECT ... FROM x "
                   "ON CONFLICT ... RETURNING ...")

Everything happens in the caller's transaction (and savepoint), so a failed attempt leaves
no staging rows behind, and the consumer's bisection of a poison batch works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb


def copy_rows(cursor: Any, table: str, columns: Sequence[str], types: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """Append ``rows`` to ``table`` with one binary COPY. ``types`` are PostgreSQL type
    names, one per column (they pick psycopg's binary dumpers; a ``jsonb`` value is the
    Python object, not its JSON text). ``cursor``: a psycopg 3 cursor, or Django's
    wrapper of one, whose errors then come as Django's (``django.db.DataError``...), as
    its ``execute`` raises them: callers need not tell a COPY from an INSERT."""
    # Django's wrapper hands ``copy`` straight to psycopg, past its error translation.
    database = getattr(cursor, "db", None)
    translate_errors = database.wrap_database_errors if database is not None else nullcontext()
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with translate_errors, cursor.copy(statement) as copy:
        copy.set_types(list(types))
        write_row = copy.write_row
        for row in rows:
            write_row(row)


def _as_it_is(text: str) -> str:
    return text


def json_text(text: str) -> Jsonb:
    """A ``jsonb`` value already serialised (``json.dumps``), copied as it is: for a value
    written to several columns or rows, so that it is serialised once."""
    return Jsonb(text, dumps=_as_it_is)


@dataclass(frozen=True)
class StagingTable:
    """A temporary table of the session that rows are copied into before one statement
    moves them on. ``ON COMMIT DELETE ROWS``: it is empty outside a transaction, and a
    rolled-back savepoint takes its rows back with it."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type)

    @property
    def qualified(self) -> str:
        return f"pg_temp.{self.name}"

    def load(self, cursor: Any, rows: Iterable[Sequence[Any]]) -> None:
        """Copy ``rows`` in; must run inside a transaction (outside one, the commit that
        ends the COPY would empty the table again)."""
        # IF NOT EXISTS each time: a table created in a transaction that rolled back is
        # gone, so no flag on the connection could be trusted. It costs one round trip.
        columns = ", ".join(f"{name} {pg_type}" for name, pg_type in self.columns)
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.name} ({columns}) "
                       "ON COMMIT DELETE ROWS")
        copy_rows(cursor, self.qualified, [name for name, _ in self.columns],
                  [pg_type for _, pg_type in self.columns], rows)

    def take(self) -> str:
        """SQL that empties the table and yields its rows, for a ``WITH x AS (...)``: the
        rows of one load are moved on once, even when several loads share a transaction
        (a batch bisected in savepoints)."""
        return f"DELETE FROM {self.qualified} RETURNING *"  # noqa: S608 - our own name
