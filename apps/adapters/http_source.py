"""What the three JSON-over-HTTP source adapters share.

- :class:`SourceHttp`: one pooled session per adapter instance with the connection's timeouts,
  and every answer checked before anyone reads it: no answer at all -> SourceUnreachable, 5xx
  -> SourceUnavailable, 429 -> SourceRateLimited (Retry-After), 401/403 -> SourceAuthError,
  any other refusal -> RequestRejected, a body that is not JSON -> MalformedRecord.
- :class:`RecordReader`: strict reading of one source record, for the mapping modules.
- :class:`HttpSourceAdapter`: metrics, the health probe and the skip-and-report rule for
  malformed records in list answers.
- Opaque cursors, and small helpers for id batches.

Nothing here retries or circuit-breaks: the resilience layer wraps every adapter call and
decides from the error class (``retryable``) what to do.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hmac
import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import requests

from apps.adapters.base import (
    AdapterError,
    CanonicalEntity,
    DataProductAdapter,
    EntityPage,
    HealthState,
    HealthStatus,
    MalformedRecord,
    SourceAuthError,
    SourceConfig,
    SourceRateLimited,
    SourceUnavailable,
)
from dictamesh.resilience.http import build_session, parse_retry_after

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: seconds to wait after a 429 that carries no usable Retry-After
DEFAULT_RETRY_AFTER_SECONDS = 1.0
#: malformed-record messages kept for get_metrics (the log has every one)
RECENT_MALFORMED = 20

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


# -- errors beyond the contract ----------------------------------------------------------------

class SourceUnreachable(SourceUnavailable):
    """No HTTP answer at all: connection refused or reset, DNS failure, timeout."""


class RequestRejected(AdapterError):
    """The source refused this request (a 4xx other than auth and rate limits): sending it
    again will not help. ``status``, ``code`` and ``details`` are the source's own."""

    def __init__(self, message: str, *, status: int, code: str = "",
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, dict(details or {})


class InvalidQuery(AdapterError):
    """The caller asked for something this source cannot answer (a filter the API lacks, a
    cursor another query issued): fix the call, retrying will not help."""


# -- the connection ----------------------------------------------------------------------------

class SourceMetrics:
    """Request counts by outcome, bytes received, and malformed records and answers;
    thread-safe, since one adapter instance serves every thread of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._bytes_received = 0
        self._malformed_records = 0
        self._recent_malformed: deque[str] = deque(maxlen=RECENT_MALFORMED)

    def request(self, outcome: str, size: int = 0) -> None:
        with self._lock:
            self._requests[outcome] += 1
            self._bytes_received += size

    def malformed(self, error: MalformedRecord) -> None:
        with self._lock:
            self._malformed_records += 1
            self._recent_malformed.append(str(error))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self._requests), "bytes_received": self._bytes_received,
                    "malformed_records": self._malformed_records,
                    "recent_malformed": list(self._recent_malformed)}


class SourceHttp:
    """One adapter instance's connection to its source (keep it for the instance's lifetime,
    so the connection pool is reused)."""

    def __init__(self, config: SourceConfig, source: str, headers: Mapping[str, str]) -> None:
        self.source = source
        self.base_url = config.base_url.rstrip("/")
        self.session = build_session(connect_timeout=config.connect_timeout,
                                     read_timeout=config.read_timeout, headers=headers)
        self.metrics = SourceMetrics()

    def close(self) -> None:
        self.session.close()

    def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             json_body: Any = None, headers: Mapping[str, str] | None = None,
             accept: Collection[int] = (200,)) -> requests.Response:
        """The response when its status is in ``accept``; otherwise the AdapterError for it."""
        try:
            response = self.session.request(method, self.base_url + path, params=params,
                                            json=json_body, headers=headers)
        except requests.Timeout as exc:
            self.metrics.request("timeout")
            raise SourceUnreachable(
                f"{self.source} did not answer {method} {path} in time ({exc}); retrying may "
                "help, check the source if it persists.") from exc
        except requests.RequestException as exc:
            self.metrics.request("unreachable")
            raise SourceUnreachable(
                f"{self.source} at {self.base_url} cannot be reached ({exc}); check that it "
                "runs and that the connection's base URL is right.") from exc
        if response.status_code in accept:
            outcome = "not_modified" if response.status_code == 304 else "ok"
            self.metrics.request(outcome, len(response.content))
            return response
        self.metrics.request(_outcome(response.status_code), len(response.content))
        raise self._failure(method, path, response)

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             json_body: Any = None, headers: Mapping[str, str] | None = None,
             accept: Collection[int] = (200,)) -> Any:
        """The JSON body of an accepted answer (see :meth:`send`)."""
        response = self.send(method, path, params=params, json_body=json_body,
                             headers=headers, accept=accept)
        return self.json_of(response, f"{method} {path}")

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def json_of(self, response: requests.Response, where: str) -> Any:
        try:
            return response.json()
        except ValueError:
            error = MalformedRecord(
                f"{self.source} answered {where} with a body that is not JSON "
                f"({response.text[:80]!r}); the connection's base URL may point at "
                "another service.")
            self.metrics.malformed(error)
            raise error from None

    def probe(self, path: str, params: Mapping[str, Any], slow_ms: float) -> HealthStatus:
        """One cheap call: DOWN when nothing answers or our credentials are refused,
        DEGRADED on 5xx, 429 or an answer slower than ``slow_ms``."""
        started = time.perf_counter()
        state, detail = HealthState.HEALTHY, "ok"
        try:
            self.send("GET", path, params=params)
        except (SourceUnreachable, SourceAuthError, RequestRejected) as exc:
            state, detail = HealthState.DOWN, str(exc)
        except SourceUnavailable as exc:  # 5xx and 429: it answers, but not usefully
            state, detail = HealthState.DEGRADED, str(exc)
        latency_ms = (time.perf_counter() - started) * 1000
        if state is HealthState.HEALTHY and latency_ms > slow_ms:
            state, detail = HealthState.DEGRADED, f"slow: {latency_ms:.0f} ms > {slow_ms:.0f} ms"
        return HealthStatus(state=state, detail=detail, latency_ms=latency_ms)

    def _failure(self, method: str, path: str, response: requests.Response) -> AdapterError:
        status = response.status_code
        code, message, details = _source_error(response)
        said = f"{self.source} answered {method} {path} with {status} {code}: {message}"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            seconds = DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after
            return SourceRateLimited(f"{said} (retry after {seconds:g} s)", seconds)
        if status >= 500:
            return SourceUnavailable(f"{said}; a source-side failure, worth retrying.")
        if status in (401, 403):
            return SourceAuthError(f"{said}. Check the connection's credentials and the "
                                   "permissions they grant.")
        return RequestRejected(said, status=status, code=code, details=details)


def _outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status in (401, 403):
        return "auth_error"
    return "rejected"


def _source_error(response: requests.Response) -> tuple[str, str, dict[str, Any]]:
    """(code, message, details) from the error shapes our sources use: Directus'
    ``{"errors": [{"message", "extensions": {"code", ...}}]}`` and the plain REST
    ``{"error": {"code", "message", "details"}}``; the raw text otherwise."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200] or response.reason or "", {}
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            extensions = errors[0].get("extensions")
            extensions = extensions if isinstance(extensions, dict) else {}
            return (str(extensions.get("code", "")), str(errors[0].get("message", "")),
                    {k: v for k, v in extensions.items() if k != "code"})
        error = body.get("error")
        if isinstance(error, dict):
            details = error.get("details")
            return (str(error.get("code", "")), str(error.get("message", "")),
                    details if isinstance(details, dict) else {})
    return "", json.dumps(body)[:200], {}


# -- reading source records --------------------------------------------------------------------

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
                "record in the source.", self.record_id)

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

    def integer(self, name: str, minimum: int | None = None) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int) or (
                minimum is not None and value < minimum):
            self._problem(name, "an integer" + ("" if minimum is None else f" >= {minimum}"),
                          value)
            return 0
        return value

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


# -- cursors and batches -----------------------------------------------------------------------

def encode_cursor(kind: str, **values: Any) -> str:
    """An opaque cursor: callers store and return it, never read it."""
    raw = json.dumps({"k": kind, **values}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, kind: str) -> dict[str, Any]:
    """The values of a cursor from :func:`encode_cursor` with the same ``kind``."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        values = None
    if not isinstance(values, dict) or values.pop("k", None) != kind:
        raise InvalidQuery(f"{text[:40]!r} is not a {kind} cursor of this adapter; pass back "
                           "the cursor it returned, or None to start at the beginning.")
    return values


def unique(values: Iterable[T]) -> list[T]:
    """The values without repeats, in their first order."""
    return list(dict.fromkeys(values))


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def secrets_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a shared secret; an empty expected secret never matches."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name in ``headers``."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


# -- the shared adapter base -------------------------------------------------------------------

class HttpSourceAdapter(DataProductAdapter):
    """The parts of an HTTP source adapter that do not depend on the source's API.

    Malformed records: a lookup of one entity (``get_entity``) raises MalformedRecord, since
    that is the answer to what was asked. A list answer (ids, pages, change batches, webhook
    fetches) skips the malformed record and reports it (a WARNING log naming record and
    fields, ``malformed_records`` and ``recent_malformed`` in get_metrics): one bad record
    must not hide the good ones, nor stall change detection for the whole source. The
    skipped record comes back once it is fixed, since fixing it changes its update time.
    """

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.http = SourceHttp(config, self.name, self.auth_headers())

    @abc.abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate every request (from ``self.config.credentials``)."""

    @abc.abstractmethod
    def health_request(self) -> tuple[str, Mapping[str, Any]]:
        """The path and parameters of a cheap, authenticated GET for health_check."""

    def credential(self, key: str) -> str:
        value = self.config.credentials.get(key)
        if not value:
            raise SourceAuthError(f"Connection {self.config.name!r} has no {key!r} credential; "
                                  f"the {self.name} adapter needs one.")
        return value

    def option_number(self, name: str, default: int) -> int:
        """A positive whole-number option of the connection, or its default."""
        value = self.config.options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Connection {self.config.name!r}: option {name!r} must be a "
                             f"whole number >= 1, got {value!r}.")
        return value

    def close(self) -> None:
        """Close the pooled connections; the instance must not be used afterwards."""
        self.http.close()

    def get_metrics(self) -> dict[str, Any]:
        return self.http.metrics.snapshot()

    def health_check(self) -> HealthStatus:
        slow_ms = self.option_number("health_slow_ms", self.get_sla().latency_p99_ms)
        path, params = self.health_request()
        return self.http.probe(path, params, slow_ms)

    def map_listed(self, records: Iterable[Any], to_entity: Callable[[Any], CanonicalEntity],
                   next_cursor: str | None = None, total: int | None = None) -> EntityPage:
        """A page of every record that maps; malformed ones are skipped, reported (see
        above) and listed in the page's ``malformed``."""
        mapped, malformed = [], []
        for record in records:
            try:
                mapped.append(to_entity(record))
            except MalformedRecord as exc:
                self.report_malformed(exc)
                malformed.append(exc)
        return EntityPage(mapped, next_cursor, total, tuple(malformed))

    def map_or_report(self, record: Any,
                      to_entity: Callable[[Any], CanonicalEntity]) -> CanonicalEntity | None:
        try:
            return to_entity(record)
        except MalformedRecord as exc:
            self.report_malformed(exc)
            return None

    def report_malformed(self, error: MalformedRecord) -> None:
        self.http.metrics.malformed(error)
        logger.warning("skipping malformed record: %s", error,
                       extra={"source": self.config.name, "record_id": error.record_id})
