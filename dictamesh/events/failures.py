"""What a consumer does with a failure: retry it, dead-letter the event, or retry a few times.

Applying an event can fail for three kinds of reasons, and each needs a different answer:

- **transient**: the database or a service is briefly unavailable (connection lost, a
  serialization failure, a deadlock, a lock wait that timed out). Retrying with backoff
  succeeds once it recovers; dead-lettering would lose good events. Retried for ever, with
  only the affected partitions paused.
- **permanent**: the event itself cannot be applied (a value too long for its column, a NUL
  character PostgreSQL refuses, a constraint it violates, a handler's ``KeyError`` on a
  record of the wrong shape). Every retry fails the same way: the event goes to the
  dead-letter topic and its neighbours are applied.
- **unknown**: anything else (a bug, a statement timeout). Retried a bounded number of times
  (``KAFKA_CONSUMER_MAX_ATTEMPTS``), then treated as permanent: never a stall for ever.

The database-specific part (SQLSTATE classes) is here because every store is PostgreSQL;
the exceptions are recognised by their ``sqlstate`` attribute (psycopg's errors carry it,
and Django's wrappers keep the driver error as ``__cause__``), so this module needs no
database driver.
"""

from __future__ import annotations

import enum

from dictamesh.events.handlers import PermanentError, RetryableError


class FailureKind(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


# SQLSTATE classes and codes (PostgreSQL, appendix A). Class 08: connection exceptions;
# 53: insufficient resources (too many connections, out of memory or disk); 57P01-03: the
# server is shutting down or starting; 40001/40P01: serialization failure, deadlock; 55P03:
# lock_not_available (lock_timeout, NOWAIT).
_TRANSIENT_CLASSES = frozenset({"08", "53"})
_TRANSIENT_CODES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})
# Class 22: data exceptions (too long, bad encoding, NUL, out of range); 23: integrity
# constraint violations. The same event fails the same way on every retry.
_PERMANENT_CLASSES = frozenset({"22", "23"})
# The shape of a record was not what a handler expected.
_HANDLER_DATA_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)

_REASONS = {"22": "data_error", "23": "integrity_error"}


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (or of the driver error it wraps), if any."""
    for candidate in (exc, exc.__cause__):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def _is_connection_failure(exc: BaseException) -> bool:
    """Errors with no SQLSTATE because no server answered: refused, reset, closed."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"InterfaceError", "OperationalError"}) or isinstance(
        exc, ConnectionError | TimeoutError)


def classify(exc: BaseException) -> FailureKind:
    """Which kind of failure ``exc`` is (see the module docstring)."""
    if isinstance(exc, PermanentError):
        return FailureKind.PERMANENT
    if isinstance(exc, RetryableError):
        return FailureKind.TRANSIENT
    code = sqlstate(exc)
    if code is not None:
        if code[:2] in _PERMANENT_CLASSES:
            return FailureKind.PERMANENT
        if code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES:
            return FailureKind.TRANSIENT
        return FailureKind.UNKNOWN  # e.g. 57014 statement timeout: maybe this event, maybe not
    if _is_connection_failure(exc):
        return FailureKind.TRANSIENT
    if isinstance(exc, _HANDLER_DATA_ERRORS):
        return FailureKind.PERMANENT
    return FailureKind.UNKNOWN


def as_permanent(exc: BaseException, *, gave_up: bool = False) -> PermanentError:
    """``exc`` as the PermanentError that dead-letters an event, with a routable reason:
    data_error, integrity_error, handler_error, or apply_failed (``gave_up``: an unknown
    failure that kept recurring)."""
    if isinstance(exc, PermanentError):
        return exc
    code = sqlstate(exc)
    if gave_up:
        reason = "apply_failed"
    elif code is not None:
        reason = _REASONS.get(code[:2], "apply_failed")
    else:
        reason = "handler_error"
    summary = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {summary}" if summary else type(exc).__name__
    if gave_up:
        detail += " (failed on every attempt; dead-lettered so the partition moves on)"
    return PermanentError(detail, reason=reason)
