"""HTTP sessions for source adapters: always a timeout, a bounded pool, no hidden retries.

A call without a timeout can hang a worker thread forever when a source stops answering,
so the session fills in the default connect and read timeouts whenever a call gives none
(or passes ``timeout=None``). urllib3's own retries are off: retries belong to
``dictamesh.resilience.retry``, which knows what is idempotent and honours Retry-After, and
to the breaker, which must see every failure.
"""

from __future__ import annotations

import importlib.metadata
import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

#: seconds to open a TCP (+TLS) connection to a source
DEFAULT_CONNECT_TIMEOUT_SECONDS = 3.05  # just over a multiple of 3 s, the TCP SYN retry
#: seconds to wait for each chunk of a response
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
#: connections kept open per host; sized for a threaded web/worker process
DEFAULT_POOL_SIZE = 20


def _version() -> str:
    try:
        return importlib.metadata.version("dictamesh")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


USER_AGENT = f"DictaMesh/{_version()}"


# requests.Session.request(method, url, params, data, headers, cookies, files, auth, timeout)
_TIMEOUT_POSITION = 6


class TimeoutSession(requests.Session):
    """A session whose every request has a (connect, read) timeout."""

    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError(f"connect_timeout={connect_timeout}, read_timeout={read_timeout}: "
                             "both must be positive; a source call may never wait forever.")
        super().__init__()
        self.default_timeout = (connect_timeout, read_timeout)

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        if len(args) > _TIMEOUT_POSITION:  # given positionally: params, data, ..., timeout
            args = (*args[:_TIMEOUT_POSITION], args[_TIMEOUT_POSITION] or self.default_timeout,
                    *args[_TIMEOUT_POSITION + 1:])
        elif kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def build_session(*, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
                  read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
                  pool_size: int = DEFAULT_POOL_SIZE,
                  headers: Mapping[str, str] | None = None) -> TimeoutSession:
    """A session for one source connection; keep it for the connection's lifetime so its
    connection pool is reused."""
    if pool_size < 1:
        raise ValueError(f"pool_size={pool_size}: need at least one connection.")
    session = TimeoutSession(connect_timeout=connect_timeout, read_timeout=read_timeout)
    adapter = HTTPAdapter(
        pool_connections=pool_size, pool_maxsize=pool_size,
        # total=0: no retry of any kind. read=False: a read timeout surfaces as
        # requests.ReadTimeout, not wrapped in a "max retries exceeded" ConnectionError.
        max_retries=Retry(total=0, read=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers.update(headers or {})
    return session


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
