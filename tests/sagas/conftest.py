"""Sagas against the reference sources with a real Celery worker, on committed data.

``saga_tenant`` connects tenant A to the three reference servers and runs the test body in
its schema; ``effects`` reads what the sources hold for one saga, by idempotency key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from django_tenants.utils import schema_context

from apps.sagas import services
from apps.sagas.contracts import SagaState, SagaView
from apps.sagas.create_invoice import register_create_invoice
from devtools.reference import ReferenceSources
from tests.sources.conftest import _connect, _forget_breakers, control, sources  # noqa: F401

CUSTOMER = "3"
SKU = "SKU-00001"


@pytest.fixture
def saga_settings(settings) -> Iterator[Any]:
    """Quick retries and short step timeouts, CreateInvoice re-registered with them."""
    settings.SAGA_STEP_TIMEOUT_SECONDS = 2.0
    settings.SAGA_STEP_MAX_ATTEMPTS = 3
    settings.SAGA_COMPENSATION_MAX_ATTEMPTS = 3
    settings.SAGA_RETRY_INITIAL_BACKOFF_SECONDS = 0.01
    settings.SAGA_RETRY_MAX_BACKOFF_SECONDS = 0.05
    settings.SAGA_STEP_GRACE_SECONDS = 1.0
    register_create_invoice(replace=True)
    yield settings
    settings.SAGA_STEP_TIMEOUT_SECONDS = 10.0  # restored by the fixture; re-register so
    register_create_invoice(replace=True)       # later tests see the defaults again


@pytest.fixture
def saga_tenant(sources, tenants_committed, saga_settings) -> Iterator[str]:  # noqa: F811
    tenant = tenants_committed[0].schema_name
    _connect(tenant, sources, saga_settings)
    # The breaker would open on the failures these tests inject on purpose.
    saga_settings.BREAKER_FAIL_MAX = 1000
    with schema_context(tenant):
        yield tenant
    _forget_breakers(tenant)


def start(customer: str = CUSTOMER, quantity: int = 1, key: str | None = None) -> SagaView:
    return services.start_saga(services.CREATE_INVOICE, {
        "customer_id": customer, "items": [{"product_id": SKU, "quantity": quantity}]},
        idempotency_key=key)


def wait_for(saga_id: str, done: Callable[[SagaView], bool], timeout: float = 30.0
             ) -> SagaView:
    deadline = time.monotonic() + timeout
    while True:
        saga = services.get_saga(saga_id)
        if done(saga):
            return saga
        if time.monotonic() > deadline:
            raise AssertionError(f"saga {saga_id} stuck: {saga}")
        time.sleep(0.05)


def wait_until(what: str, done: Callable[[], bool], timeout: float = 30.0,
               pause: float = 0.05) -> None:
    """Poll ``done`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not in {timeout}s: {what}"
        time.sleep(pause)


def wait_final(saga_id: str, timeout: float = 30.0) -> SagaView:
    return wait_for(saga_id, lambda s: s.state.is_final
                    or s.state is SagaState.NEEDS_ATTENTION, timeout)


class Effects:
    """What the reference sources hold for one saga, by its steps' idempotency keys (the
    sources' effects ledger: objects each key's writes created, and which are in effect)."""

    def __init__(self, sources: ReferenceSources, saga_id: str) -> None:  # noqa: F811
        self.urls = (sources.products_url, sources.ecommerce_url)
        self.prefix = f"saga-{saga_id}-"

    def _ledger(self) -> dict[str, dict[str, dict[str, Any]]]:
        ledger: dict[str, dict[str, dict[str, Any]]] = {}
        for url in self.urls:
            response = requests.get(f"{url}/__control/effects",
                                    params={"key_prefix": self.prefix}, timeout=5)
            response.raise_for_status()
            ledger.update(response.json())
        return ledger

    def created(self) -> dict[str, int]:
        """Objects made per kind (reservations, invoices, charges, refunds)."""
        return {kind: sum(e["created"] for e in by_key.values())
                for kind, by_key in self._ledger().items()}

    def held(self) -> dict[str, int]:
        """Effects still in force: active reservations, invoices not cancelled, charges
        not refunded."""
        ledger = self._ledger()
        return {kind: sum(e["current"] for e in ledger[kind].values())
                for kind in ("reservations", "invoices", "charges")}
