"""One adapter instance's HTTP connection to its source, and how answers become errors.

Every answer is checked before anyone reads it: no answer at all -> SourceUnreachable, 5xx
-> SourceUnavailable, 429 -> SourceRateLimited (Retry-After), 401/403 -> SourceAuthError,
any other refusal -> RequestRejected, a body that is not JSON -> MalformedRecord.

Nothing here retries or circuit-breaks: the resilience layer wraps every adapter call and
decides from the error class (``retryable``) what to do.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

import requests

from apps.adapters.base import (
    AdapterError,
    HealthState,
    HealthStatus,
    MalformedRecord,
    RequestRejected,
    SourceAuthError,
    SourceConfig,
    SourceRateLimited,
    SourceUnavailable,
)
from apps.adapters.error_text import clause, transport_reason, without_queries
from dictamesh.resilience.http import build_session, parse_retry_after

#: seconds to wait after a 429 that carries no usable Retry-After
DEFAULT_RETRY_AFTER_SECONDS = 1.0
#: malformed-record messages kept for get_metrics (the log has every one)
RECENT_MALFORMED = 20


# -- errors beyond the contract ----------------------------------------------------------------

class SourceUnreachable(SourceUnavailable):
    """No HTTP answer at all: connection refused or reset, DNS failure, timeout."""


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
             accept: Collection[int] = (200,),
             timeout: float | None = None) -> requests.Response:
        """The response when its status is in ``accept``; otherwise the AdapterError for it.

        ``timeout``: seconds to wait for this call (to connect, and for each read), instead
        of the connection's own timeouts; None keeps those."""
        try:
            response = self.session.request(method, self.base_url + path, params=params,
                                            json=json_body, headers=headers,
                                            timeout=self._timeouts(timeout))
        except requests.Timeout as exc:
            self.metrics.request("timeout")
            raise SourceUnreachable(
                f"{self.source} did not answer {method} {path} in time "
                f"({transport_reason(exc)}); retrying may help, check the source if it "
                "persists.") from exc
        except requests.RequestException as exc:
            self.metrics.request("unreachable")
            raise SourceUnreachable(
                f"{self.source} at {self.base_url} cannot be reached on {method} {path} "
                f"({transport_reason(exc)}); check that it runs and that the connection's "
                "base URL is right.") from exc
        if response.status_code in accept:
            outcome = "not_modified" if response.status_code == 304 else "ok"
            self.metrics.request(outcome, len(response.content))
            return response
        self.metrics.request(_outcome(response.status_code), len(response.content))
        raise self._failure(method, path, response)

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             json_body: Any = None, headers: Mapping[str, str] | None = None,
             accept: Collection[int] = (200,), timeout: float | None = None) -> Any:
        """The JSON body of an accepted answer (see :meth:`send`)."""
        response = self.send(method, path, params=params, json_body=json_body,
                             headers=headers, accept=accept, timeout=timeout)
        return self.json_of(response, f"{method} {path}")

    def _timeouts(self, timeout: float | None) -> tuple[float, float] | None:
        """(connect, read) seconds for a call bounded by ``timeout``; None: the defaults."""
        if timeout is None:
            return None
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout={timeout!r}: a call's timeout must be a positive number "
                             "of seconds (or None for the connection's own).")
        connect, _ = self.session.default_timeout
        return min(connect, timeout), float(timeout)

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

    def probe(self, path: str, params: Mapping[str, Any], slow_ms: float,
              inspect: Callable[[Any], str | None] | None = None) -> HealthStatus:
        """One cheap call: DOWN when nothing answers or our credentials are refused,
        DEGRADED on 5xx, 429, an answer slower than ``slow_ms``, or an answer ``inspect``
        (given its JSON body) finds a problem in, which it returns in words."""
        started = time.perf_counter()
        state, detail = HealthState.HEALTHY, "ok"
        body: Any = None
        try:
            response = self.send("GET", path, params=params)
            if inspect is not None:
                body = self.json_of(response, f"GET {path}")
        except (SourceUnreachable, SourceAuthError, RequestRejected) as exc:
            state, detail = HealthState.DOWN, str(exc)
        except (SourceUnavailable, MalformedRecord) as exc:  # it answers, but not usefully
            state, detail = HealthState.DEGRADED, str(exc)
        latency_ms = (time.perf_counter() - started) * 1000
        problem = inspect(body) if inspect is not None and state is HealthState.HEALTHY \
            else None
        if problem:
            state, detail = HealthState.DEGRADED, problem
        elif state is HealthState.HEALTHY and latency_ms > slow_ms:
            state, detail = HealthState.DEGRADED, f"slow: {latency_ms:.0f} ms > {slow_ms:.0f} ms"
        return HealthStatus(state=state, detail=detail, latency_ms=latency_ms)

    def _failure(self, method: str, path: str, response: requests.Response) -> AdapterError:
        status = response.status_code
        code, message, details = _source_error(response)
        # The source's own message is a sentence of its own: ours go on after it.
        said = (f"{self.source} answered {method} {path} with {status}{' ' + code if code else ''}"
                f": {clause(without_queries(message)) or response.reason or 'no message'}")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            seconds = DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after
            return SourceRateLimited(f"{said}; retry after {seconds:g} s.", seconds)
        if status >= 500:
            return SourceUnavailable(f"{said}; a source-side failure, worth retrying.")
        if status in (401, 403):
            return SourceAuthError(f"{said}. Check the connection's credentials and the "
                                   "permissions they grant.")
        return RequestRejected(f"{said}.", status=status, code=code, details=details)


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



def secrets_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a shared secret; an empty expected secret never matches."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name in ``headers``."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


