"""`manage.py saga`: list, show and operator actions on a tenant's sagas, and the errors
that say what to do instead."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from apps.sagas import services
from apps.sagas.contracts import SagaState, SagaView
from tests.sagas.conftest import start, wait_final
from tests.sources.conftest import _connect, _forget_breakers, control


@pytest.fixture
def connected(sources, tenant_a, settings) -> Iterator[str]:
    """Tenant A connected to the reference sources (a saga's input is checked against
    them); the test body runs in A's schema, as the command does."""
    _connect(tenant_a.schema_name, sources, settings)
    with schema_context(tenant_a.schema_name):
        yield tenant_a.schema_name
    _forget_breakers(tenant_a.schema_name)


def _start(customer: str = "1") -> SagaView:
    return services.start_saga(services.CREATE_INVOICE, {
        "customer_id": customer, "items": [{"product_id": "SKU-00001", "quantity": 1}]})


def _run(*args: str) -> str:
    out = StringIO()
    call_command("saga", *args, stdout=out)
    return out.getvalue()


def test_the_tenant_must_be_named_and_exist(connected: str):
    with pytest.raises(CommandError, match="--tenant SLUG"):
        _run("list")
    with pytest.raises(CommandError, match="No tenant 'nobody_here'"):
        _run("list", "--tenant", "nobody_here")


def test_list_filters_by_state_and_definition(connected: str):
    saga = _start()
    listed = _run("list", "--tenant", connected)
    assert saga.id in listed
    assert _run("list", "--tenant", connected, "--state", saga.state.value).count(saga.id) == 1
    other = next(s for s in SagaState if s != saga.state)
    assert saga.id not in _run("list", "--tenant", connected, "--state", other.value)
    assert saga.id in _run("list", "--tenant", connected, "--definition",
                           services.CREATE_INVOICE)
    assert _run("list", "--tenant", connected, "--definition", "nothing_like_it").strip() \
        == "No sagas match."


def test_list_pages_with_the_printed_cursor(connected: str):
    started = [_start(str(n)).id for n in (1, 2, 3)]
    first = _run("list", "--tenant", connected, "--first", "2")
    assert [i for i in started if i in first] == started[1:]
    cursor = first.strip().splitlines()[-1].removeprefix("More: add --after ").strip()
    rest = _run("list", "--tenant", connected, "--first", "2", "--after", cursor)
    assert [i for i in started if i in rest] == started[:1]
    assert "More:" not in rest


def test_show_prints_the_saga_and_its_timeline(connected: str):
    saga = _start()
    shown = _run("show", saga.id, "--tenant", connected)
    assert f"saga        {saga.id}" in shown
    assert f"state       {saga.state.value}" in shown
    assert "timeline" in shown
    assert '"customer_id": "1"' in shown


@pytest.mark.parametrize("action", ["show", "resume", "retry", "abort"])
def test_an_unknown_saga_says_how_to_find_one(connected: str, action: str):
    missing = str(uuid.uuid4())
    with pytest.raises(CommandError, match=f"No saga '{missing}'.*saga list --tenant"):
        _run(action, missing, "--tenant", connected)


def test_abort_ends_a_saga_and_an_ended_one_cannot_be_aborted_again(connected: str):
    saga = _start()  # no worker here: nothing has run, so there is nothing to compensate
    said = _run("abort", saga.id, "--tenant", connected)
    aborted = services.get_saga(saga.id)
    assert f"Saga {saga.id}: abort accepted; it is now {aborted.state.value}" in said
    assert aborted.state.is_final
    with pytest.raises(CommandError, match=f"Cannot abort saga {saga.id}.*saga show"):
        _run("abort", saga.id, "--tenant", connected)


def test_resume_of_a_saga_that_needs_no_help_is_refused(connected: str):
    saga = _start()
    _run("abort", saga.id, "--tenant", connected)
    with pytest.raises(CommandError, match=f"Cannot resume saga {saga.id}"):
        _run("resume", saga.id, "--tenant", connected)
    assert services.get_saga(saga.id).state.is_final


def test_a_bad_first_is_refused_by_the_parser(connected: str):
    with pytest.raises(CommandError, match="--first"):
        _run("list", "--tenant", connected, "--first", "0")


def test_list_finds_a_saga_that_needs_attention_and_resume_finishes_it(saga_tenant: str,
                                                                       sources,
                                                                       celery_worker):
    # Every e-commerce write fails: the invoice step gives up, and so does its compensation.
    control(sources.ecommerce_url, "faults", {"error_rate": 1.0, "status": 503})
    saga = wait_final(start().id)
    assert saga.state is SagaState.NEEDS_ATTENTION
    listed = _run("list", "--tenant", saga_tenant, "--state", "NEEDS_ATTENTION")
    assert saga.id in listed
    assert "503" in _run("show", saga.id, "--tenant", saga_tenant)

    control(sources.ecommerce_url, "reset")  # the operator fixes the source
    said = _run("resume", saga.id, "--tenant", saga_tenant)
    assert f"Saga {saga.id}: resume accepted" in said
    assert wait_final(saga.id).state is SagaState.COMPENSATED
    assert saga.id not in _run("list", "--tenant", saga_tenant, "--state", "NEEDS_ATTENTION")


def test_retry_runs_the_parked_step_again_once_the_source_is_fixed(saga_tenant: str, sources,
                                                                   celery_worker):
    control(sources.ecommerce_url, "faults", {"error_rate": 1.0, "status": 503})
    saga = wait_final(start().id)
    assert saga.state is SagaState.NEEDS_ATTENTION
    control(sources.ecommerce_url, "reset")
    said = _run("retry", saga.id, "--tenant", saga_tenant)
    assert f"Saga {saga.id}: retry accepted" in said
    assert wait_final(saga.id).state is SagaState.COMPENSATED
