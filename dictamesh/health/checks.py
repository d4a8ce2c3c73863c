"""Readiness checks of the platform's dependencies, each bounded by a short timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections

from dictamesh.events.kafka_clients import open_admin_client
from dictamesh.events.kafka_config import KafkaConnection
from dictamesh.health.redact import redact_userinfo
from dictamesh.redis_clients import RedisClientOptions, new_redis_client


@dataclass
class CheckResult:
    ok: bool
    detail: str = "ok"
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ok" if self.ok else "fail",
            "detail": self.detail,
            "latency_ms": round(self.latency_ms, 1),
        }
        body.update(self.extra)
        return body


Check = Callable[[float], None]  # raises on failure; gets the timeout in seconds

_CHECKS: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    """Add a readiness check; it must raise (with a helpful message) when not ready."""
    _CHECKS[name] = check


def check_postgres(timeout: float) -> None:
    # A fresh connection alias would bypass the pool; a short statement timeout on the
    # ordinary connection is enough to detect a dead or wedged server.
    with connections["default"].cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", [int(timeout * 1000)])
        cursor.execute("SELECT 1")


def check_redis(timeout: float) -> None:
    options = RedisClientOptions(connect_timeout=timeout, read_timeout=timeout)
    with closing(new_redis_client(options)) as client:
        client.ping()


def check_kafka(timeout: float) -> None:
    """Bootstrap against the brokers and fetch cluster metadata."""
    timeout_ms = int(timeout * 1000)
    admin = open_admin_client(
        KafkaConnection.from_settings(), "dictamesh-readyz",
        request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
    try:
        admin.describe_cluster()
    finally:
        admin.close()


register_check("postgres", check_postgres)
register_check("redis", check_redis)
register_check("kafka", check_kafka)


def _run_one(check: Check, timeout: float) -> CheckResult:
    started = time.perf_counter()
    try:
        check(timeout)
    except Exception as exc:  # noqa: BLE001 - any failure makes the dependency not ready
        return CheckResult(False, redact_userinfo(f"{type(exc).__name__}: {exc}"),
                           (time.perf_counter() - started) * 1000)
    return CheckResult(True, "ok", (time.perf_counter() - started) * 1000)


def run_checks(timeout: float | None = None) -> dict[str, CheckResult]:
    """Run every check; the slowest bounds the total, and a hung one counts as failed."""
    timeout = timeout if timeout is not None else settings.HEALTH_CHECK_TIMEOUT_SECONDS
    results: dict[str, CheckResult] = {}
    # PostgreSQL runs in this thread: Django connections belong to the thread using them.
    others = {name: check for name, check in _CHECKS.items() if name != "postgres"}
    pool = ThreadPoolExecutor(max_workers=max(1, len(others)), thread_name_prefix="readyz")
    futures = {name: pool.submit(_run_one, check, timeout) for name, check in others.items()}
    if "postgres" in _CHECKS:
        results["postgres"] = _run_one(_CHECKS["postgres"], timeout)
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=timeout + 1)
        except FutureTimeout:
            results[name] = CheckResult(False, f"no answer within {timeout:.1f}s", timeout * 1000)
    # Do not wait for a check that ignored its timeout: the probe answers on time regardless.
    pool.shutdown(wait=False, cancel_futures=True)
    return results
