"""Sagas in the admin, on a tenant's host: the list filtered by state, definition and age,
the detail page with its step timeline, and the resume / retry / abort actions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.sagas import services
from apps.sagas.contracts import SagaState, SagaView
from apps.sagas.models import SagaInstance
from apps.tenancy.services import add_member
from tests.conftest import tenant_host
from tests.sagas.conftest import start, wait_final
from tests.sources.conftest import _connect, _forget_breakers, control

CHANGELIST = "/admin/sagas/sagainstance/"


@pytest.fixture
def operator(sources, tenant_a, settings, client: Client) -> Iterator[Client]:
    """A superuser's admin session on tenant A's host, A connected to the sources; the test
    body runs in A's schema."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    _connect(tenant_a.schema_name, sources, settings)
    user = get_user_model().objects.create_superuser("operator", "", "pw-operator-1")
    client.force_login(user)
    client.defaults["HTTP_HOST"] = tenant_host(tenant_a.schema_name)
    with schema_context(tenant_a.schema_name):
        yield client
    _forget_breakers(tenant_a.schema_name)


def _start(customer: str = "1") -> SagaView:
    return services.start_saga(services.CREATE_INVOICE, {
        "customer_id": customer, "items": [{"product_id": "SKU-00001", "quantity": 1}]})


def _change_url(saga_id: str) -> str:
    return f"{CHANGELIST}{saga_id}/change/"


def test_the_list_filters_by_state_and_definition(operator: Client):
    kept, aborted = _start("1"), _start("2")
    stopped = services.abort_saga(aborted.id)
    assert stopped.state != kept.state

    page = operator.get(CHANGELIST, {"state": kept.state.value}).content.decode()
    assert kept.id in page
    assert aborted.id not in page
    page = operator.get(CHANGELIST, {"state": stopped.state.value}).content.decode()
    assert aborted.id in page
    assert kept.id not in page
    page = operator.get(CHANGELIST, {"definition": services.CREATE_INVOICE}).content.decode()
    assert kept.id in page
    assert aborted.id in page


def test_the_list_filters_by_age(operator: Client):
    new, old = _start("1"), _start("2")
    SagaInstance.objects.filter(pk=old.id).update(
        created_at=timezone.now() - timedelta(days=8))
    recent = operator.get(CHANGELIST, {"age": "1h"}).content.decode()
    assert new.id in recent
    assert old.id not in recent
    stale = operator.get(CHANGELIST, {"age": "old"}).content.decode()
    assert old.id in stale
    assert new.id not in stale


def test_search_finds_a_saga_by_id_or_idempotency_key(operator: Client):
    keyed = services.start_saga(services.CREATE_INVOICE, {
        "customer_id": "3", "items": [{"product_id": "SKU-00002", "quantity": 1}]},
        idempotency_key="order-4711")
    other = _start("4")
    by_key = operator.get(CHANGELIST, {"q": "order-4711"}).content.decode()
    assert keyed.id in by_key
    assert other.id not in by_key
    by_id = operator.get(CHANGELIST, {"q": other.id}).content.decode()
    assert other.id in by_id
    assert keyed.id not in by_id


def test_the_detail_page_shows_the_saga_and_its_operations(operator: Client):
    saga = _start()
    page = operator.get(_change_url(saga.id))
    html = page.content.decode()
    assert page.status_code == 200
    assert "step timeline" in html.lower()
    assert saga.current_step
    assert saga.current_step in html
    assert "SKU-00001" in html  # the input, pretty-printed
    for operation in ("resume", "retry", "abort"):
        assert f"{saga.id}/operate/{operation}/" in html


def test_the_abort_button_aborts_and_returns_to_the_saga(operator: Client):
    saga = _start()
    response = operator.post(f"{CHANGELIST}{saga.id}/operate/abort/", follow=True)
    after = services.get_saga(saga.id)
    assert after.state.is_final  # nothing had run, so nothing to compensate
    assert response.redirect_chain[-1][0] == _change_url(saga.id)
    assert f"abort accepted; it is now {after.state.value}" in response.content.decode()


def test_the_abort_action_reports_each_saga(operator: Client):
    first, second = _start("1"), _start("2")
    response = operator.post(CHANGELIST, {"action": "abort_selected",
                                          "_selected_action": [first.id, second.id]},
                             follow=True)
    html = response.content.decode()
    for saga in (first, second):
        assert services.get_saga(saga.id).state != saga.state
        assert f"Saga {saga.id}: abort accepted" in html


def test_a_refused_operation_says_why_and_changes_nothing(operator: Client):
    saga = _start()
    response = operator.post(CHANGELIST, {"action": "resume_selected",
                                          "_selected_action": [saga.id]}, follow=True)
    html = response.content.decode()
    assert f"Saga {saga.id}: resume refused" in html
    assert services.get_saga(saga.id).state == saga.state


def test_operating_needs_the_change_permission(operator: Client, tenant_a):
    saga = _start()
    # A member with the viewer role: it may read sagas, not operate them.
    add_member(tenant_a.schema_name, "viewer", "viewer")
    viewer = get_user_model().objects.get(username="viewer")
    client = Client(HTTP_HOST=tenant_host(tenant_a.schema_name))
    client.force_login(viewer)
    page = client.get(_change_url(saga.id)).content.decode()
    assert "/operate/" not in page
    assert "abort_selected" not in client.get(CHANGELIST).content.decode()
    response = client.post(f"{CHANGELIST}{saga.id}/operate/abort/", follow=True)
    assert "needs the &#x27;sagas.change_sagainstance&#x27; permission" in \
        response.content.decode()
    assert services.get_saga(saga.id).state == saga.state


def test_the_detail_page_shows_the_step_timeline_of_a_run(saga_tenant: str, settings,
                                                          celery_worker):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    user = get_user_model().objects.create_superuser("operator", "", "pw-operator-1")
    client = Client(HTTP_HOST=tenant_host(saga_tenant))
    client.force_login(user)
    saga = wait_final(start().id)
    html = client.get(_change_url(saga.id)).content.decode()
    assert saga.state is SagaState.COMPLETED
    assert "COMPLETED" in html
    rows = html[html.lower().index("step timeline"):]
    positions = [rows.index(step) for step in ("reserve_stock", "create_invoice",
                                               "charge_invoice")]
    assert positions == sorted(positions)  # oldest first
    outcomes = re.findall(r'class="field-outcome">\s*<p>(\w+)</p>', rows)
    assert outcomes == ["succeeded"] * 3
    assert "/operate/" not in html  # an ended saga offers no operations


def test_the_resume_button_finishes_a_saga_that_needed_attention(saga_tenant: str, settings,
                                                                 sources, celery_worker):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    user = get_user_model().objects.create_superuser("operator", "", "pw-operator-1")
    client = Client(HTTP_HOST=tenant_host(saga_tenant))
    client.force_login(user)
    # Every e-commerce write fails: the invoice step gives up, and so does its compensation.
    control(sources.ecommerce_url, "faults", {"error_rate": 1.0, "status": 503})
    saga = wait_final(start().id)
    assert saga.state is SagaState.NEEDS_ATTENTION
    listed = client.get(CHANGELIST, {"state": "NEEDS_ATTENTION"}).content.decode()
    assert saga.id in listed

    control(sources.ecommerce_url, "reset")  # the operator fixes the source
    response = client.post(f"{CHANGELIST}{saga.id}/operate/resume/", follow=True)
    assert f"Saga {saga.id}: resume accepted" in response.content.decode()
    assert wait_final(saga.id).state is SagaState.COMPENSATED
