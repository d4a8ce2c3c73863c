"""The adapters' door for writes: a tenant's source commands by protocol, and which of their
errors are worth retrying. Against the reference servers, through a tenant's connections."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django_tenants.utils import schema_context

from apps.adapters import services
from apps.adapters.base import (
    InsufficientStock,
    InvoicePayments,
    PaymentDeclined,
    RequestRejected,
    Reservation,
    SourceUnavailable,
    StockReservations,
)
from devtools.reference import ReferenceSources, directus, ecommerce, products
from dictamesh.resilience import CircuitOpenError, reset_breakers
from tests.adapters.conftest import Control


@pytest.fixture
def connected(sources: ReferenceSources, tenant_a, settings) -> Iterator[str]:
    settings.BREAKER_FAIL_MAX = 50  # these tests see failures, never an open circuit
    _forget_breakers(tenant_a.schema_name)
    with schema_context(tenant_a.schema_name):
        services.connect_source("customers", "directus", sources.directus_url,
                                {"token": directus.DEFAULT_TOKEN})
        services.connect_source("products", "products", sources.products_url,
                                {"api_key": products.DEFAULT_API_KEYS[0]})
        services.connect_source("invoices", "ecommerce", sources.ecommerce_url,
                                {"token": ecommerce.DEFAULT_TOKEN})
        yield tenant_a.schema_name
    _forget_breakers(tenant_a.schema_name)


def _forget_breakers(tenant: str) -> None:
    """Breaker state lives in Redis across processes, and so across tests: clear it."""
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in client.scan_iter(f"breaker:{tenant}:*"):
        client.delete(key)
    client.close()
    reset_breakers()


def test_stock_reservations_reserve_read_and_release(connected, controls):
    stock = services.commands_for("product", StockReservations)
    reservation_id = stock.reserve_stock({"SKU-00001": 2}, "saga-1:reserve", timeout=5)
    assert stock.reserve_stock({"SKU-00001": 2}, "saga-1:reserve") == reservation_id
    assert stock.get_reservation(reservation_id) == Reservation(
        id=reservation_id, status="active", items={"SKU-00001": 2},
        idempotency_key="saga-1:reserve")
    stock.release_reservation(reservation_id, timeout=5)
    stock.release_reservation(reservation_id)  # a compensation may run twice
    released = stock.get_reservation(reservation_id)
    assert released is not None
    assert released.status == "released"
    assert stock.get_reservation("RSV-999999") is None
    assert controls["products"].calls("POST /v1/reservations") == 2


def test_invoice_payments_create_charge_refund_cancel(connected):
    payments = services.commands_for("invoice", InvoicePayments)
    invoice = payments.create_invoice("3", [{"sku": "SKU-00002", "quantity": 1}],
                                      "saga-2:create", timeout=5)
    charge = payments.charge_invoice(invoice.id, "saga-2:charge", timeout=5)
    refund = payments.refund_charge(invoice.id, "saga-2:refund", timeout=5)
    assert (refund.payment_id, refund.invoice.attributes["status"]) == (charge.payment_id,
                                                                        "refunded")
    assert payments.cancel_invoice(invoice.id).attributes["status"] == "cancelled"
    assert payments.cancel_invoice(invoice.id).attributes["status"] == "cancelled"


def test_only_the_protocols_commands_are_offered(connected):
    stock = services.commands_for("product", StockReservations)
    with pytest.raises(AttributeError, match="get_entity"):
        stock.get_entity  # type: ignore[attr-defined]  # noqa: B018 - the read is the test


def test_no_source_with_those_commands_is_a_clear_error(connected):
    with pytest.raises(services.NoSourceFor, match="'customer' accepts InvoicePayments "
                                                   r"commands \(customers does not\)"):
        services.commands_for("customer", InvoicePayments)
    with pytest.raises(services.NoSourceFor, match="'warehouse' accepts StockReservations"):
        services.commands_for("warehouse", StockReservations)


def test_a_hung_call_ends_at_its_timeout_and_is_retryable(connected, controls):
    controls["ecommerce"].faults(latency_ms=8000)
    payments = services.commands_for("invoice", InvoicePayments)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="did not answer") as error:
        payments.create_invoice("3", [{"sku": "SKU-00002", "quantity": 1}], "hung",
                                timeout=0.3)
    # Cut at the 0.3 s timeout, not the 8 s answer: the bound leaves a busy machine 7 s.
    assert time.monotonic() - started < 7.5
    assert services.is_retryable(error.value)


def test_a_timeout_must_be_positive(connected):
    stock = services.commands_for("product", StockReservations)
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        stock.release_reservation("RSV-000001", timeout=0)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_5xx_and_429_are_retryable(connected, controls, status):
    controls["products"].faults(error_rate=1.0, status=status)
    stock = services.commands_for("product", StockReservations)
    with pytest.raises(SourceUnavailable) as error:
        stock.reserve_stock({"SKU-00001": 1}, f"fail-{status}")
    assert services.is_retryable(error.value)


def test_4xx_answers_are_permanent(connected, controls: dict[str, Control]):
    stock = services.commands_for("product", StockReservations)
    with pytest.raises(InsufficientStock) as short:
        stock.reserve_stock({"SKU-00001": 10**6}, "too-many")
    with pytest.raises(RequestRejected) as unknown:
        stock.reserve_stock({"SKU-99999": 1}, "unknown-sku")
    controls["ecommerce"].faults(declined_customers=[4])
    payments = services.commands_for("invoice", InvoicePayments)
    invoice = payments.create_invoice("4", [{"sku": "SKU-00002", "quantity": 1}], "declined")
    with pytest.raises(PaymentDeclined) as declined:
        payments.charge_invoice(invoice.id, "declined:charge")
    for error in (short.value, unknown.value, declined.value):
        assert not services.is_retryable(error)
    assert unknown.value.status == 422


def test_an_open_circuit_is_retryable(connected, controls, settings):
    settings.BREAKER_FAIL_MAX = 2
    settings.BREAKER_RESET_TIMEOUT_SECONDS = 600.0
    reset_breakers()
    controls["products"].faults(error_rate=1.0, status=503)
    stock = services.commands_for("product", StockReservations)
    for attempt in range(2):
        with pytest.raises(SourceUnavailable):
            stock.reserve_stock({"SKU-00001": 1}, f"open-{attempt}")
    with pytest.raises(CircuitOpenError) as error:
        stock.reserve_stock({"SKU-00001": 1}, "open-2")
    assert services.is_retryable(error.value)
    assert controls["products"].calls("POST /v1/reservations") == 2


def test_errors_that_are_no_adapters_are_permanent():
    assert not services.is_retryable(ValueError("a bug"))
    assert not services.is_retryable(KeyError("a bug"))


def test_an_answer_dropped_after_the_charge_is_retried_into_the_same_charge(connected,
                                                                           controls):
    payments = services.commands_for("invoice", InvoicePayments)
    invoice = payments.create_invoice("6", [{"sku": "SKU-00002", "quantity": 1}], "s-6:create")
    controls["ecommerce"].post("endpoint-faults", {"charge_invoice": {"drop_answer_next": 1}})
    with pytest.raises(SourceUnavailable) as dropped:
        payments.charge_invoice(invoice.id, "s-6:charge", timeout=5)
    assert services.is_retryable(dropped.value)
    charge = payments.charge_invoice(invoice.id, "s-6:charge", timeout=5)
    assert charge.invoice.attributes["status"] == "paid"
    effects = requests.get(f"{controls['ecommerce'].base_url}/__control/effects",
                           params={"key": "s-6:charge"}, timeout=5).json()
    assert effects["charges"]["s-6:charge"] == {"created": 1, "current": 1,
                                                "ids": [charge.payment_id]}
