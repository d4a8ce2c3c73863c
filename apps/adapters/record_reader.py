"""Strict reading of one source record, for the mapping modules: every bad field is named,
and timestamps have one canonical form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.adapters.base import MalformedRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


class RecordReader:
    """Reads one source record field by field and collects every problem, so that
    :meth:`check` raises one MalformedRecord naming the record and all its bad fields.

    A bad field reads as a placeholder ("", 0, the epoch) so the mapping can go on and
    find the other problems; :meth:`check` must run before the values are used.
    """

    def __init__(self, record: Any, *, entity_type: str, source: str, id_field: str,
                 record_id: str | None = None) -> None:
        self.entity_type, self.source = entity_type, source
        self.problems: list[str] = []
        self._prefix = ""
        if isinstance(record, Mapping):
            self.record: Mapping[str, Any] = record
        else:
            self.record = {}
            self.problems.append(f"the record is a {type(record).__name__}, not a JSON object")
        raw_id = self.record.get(id_field)
        readable = isinstance(raw_id, str | int) and not isinstance(raw_id, bool)
        self.record_id = record_id or (str(raw_id) if readable and raw_id != "" else None)

    def check(self) -> None:
        if self.problems:
            raise MalformedRecord(
                f"{self.entity_type} {self.record_id or '(without an id)'} from {self.source} "
                f"does not fit the canonical mapping: {'; '.join(self.problems)}. Fix the "
                "record in the source.", self.record_id, self.entity_type)

    def nested(self, name: str) -> RecordReader:
        """A reader for an object-valued field, reporting into this record's problems."""
        value = self._get(name)
        if not isinstance(value, Mapping):
            self._problem(name, "an object", value)
            value = {}
        return self._child(value, name)

    def each(self, name: str) -> list[RecordReader]:
        """Readers for the objects of a list-valued field."""
        value = self._get(name)
        if not isinstance(value, list):
            self._problem(name, "a list", value)
            return []
        children = []
        for n, item in enumerate(value):
            if not isinstance(item, Mapping):
                self._problem(f"{name}[{n}]", "an object", item)
                item = {}
            children.append(self._child(item, f"{name}[{n}]"))
        return children

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str) or not value.strip():
            self._problem(name, "non-empty text", value)
            return ""
        return value

    def optional_text(self, name: str) -> str | None:
        """Non-empty text, or None when the field is missing or null."""
        return None if self._get(name) is None else self.text(name)

    def integer(self, name: str, minimum: int | None = None) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int) or (
                minimum is not None and value < minimum):
            self._problem(name, "an integer" + ("" if minimum is None else f" >= {minimum}"),
                          value)
            return 0
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            self._problem(name, "true or false", value)
            return False
        return value

    def text_list(self, name: str) -> list[str]:
        """A list of non-empty texts (ids, tags)."""
        value = self._get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self._problem(name, "a list of non-empty texts", value)
            return []
        return list(value)

    def decimal(self, name: str) -> Decimal:
        """A decimal string such as "19.99" (floats are refused: money must not round)."""
        value = self._get(name)
        if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
            self._problem(name, 'a decimal string like "19.99"', value)
            return Decimal(0)
        return Decimal(value)

    def currency(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
            self._problem(name, "an ISO 4217 currency code like EUR", value)
            return ""
        return value

    def timestamp(self, name: str) -> datetime:
        moment = self.optional_timestamp(name)
        if moment is None:
            self._problem(name, "an ISO-8601 date-time", None)
            return _EPOCH
        return moment

    def optional_timestamp(self, name: str) -> datetime | None:
        value = self._get(name)
        if value is None:
            return None
        moment = parse_timestamp(value)
        if moment is None:
            self._problem(name, "an ISO-8601 date-time", value)
            return _EPOCH
        return moment

    def _get(self, name: str) -> Any:
        return self.record.get(name)

    def _child(self, record: Mapping[str, Any], name: str) -> RecordReader:
        child = RecordReader(record, entity_type=self.entity_type, source=self.source,
                             id_field="", record_id=self.record_id)
        child.problems = self.problems  # one list: the parent's check() reports them all
        child._prefix = f"{self._prefix}{name}."
        return child

    def _problem(self, name: str, expected: str, value: Any) -> None:
        got = "missing" if value is None else repr(value)[:60]
        self.problems.append(f"{self._prefix}{name} must be {expected}, got {got}")


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from ISO-8601 text (naive means UTC), or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_timestamp(moment: datetime) -> str:
    """The canonical form of a timestamp attribute: UTC, milliseconds, "Z"."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding): entity versions."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)

