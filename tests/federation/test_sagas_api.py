"""`createInvoice`, `saga(id)` and `sagas(...)` over HTTP with real API keys: the write
scope, one saga per idempotency key, each bad input refused with its code before any saga
starts, pages, and answers that are never stale."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from apps.federation import ratelimit
from apps.sagas import services
from apps.sagas.contracts import SagaState
from apps.tenancy.api_keys import create_api_key
from apps.tenancy.graphql_limits import set_tenant_graphql_limits
from tests.federation.conftest import Api
from tests.sources.conftest import control

CREATE = """
mutation Create($input: CreateInvoiceInput!) {
  createInvoice(input: $input) { id state definition idempotencyKey input }
}"""
SAGA = """
query One($id: ID!) {
  saga(id: $id) { id state currentStep error timeline { step phase attempt outcome error } }
}"""
PAGE = """
query Page($first: Int, $after: String, $state: SagaState) {
  sagas(first: $first, after: $after, state: $state) {
    nodes { id state } pageInfo { endCursor hasNextPage }
  }
}"""


def _input(customer: str = "1", items: list[dict[str, Any]] | None = None,
           key: str | None = None) -> dict[str, Any]:
    lines = items if items is not None else [{"productId": "SKU-00001", "quantity": 2}]
    body: dict[str, Any] = {"customerId": customer, "items": lines}
    if key is not None:
        body["idempotencyKey"] = key
    return body


@pytest.fixture
def writer(api: Api) -> str:
    _, key = create_api_key(api.tenant, "saga writer", ["write"])
    return key


def _create(api: Api, writer: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = api.post(CREATE, {"input": payload}, key=writer)
    assert response.status_code == 200, response.content
    return response.json()


def _saga_count() -> int:
    return len(services.list_sagas(first=100).sagas)


def test_the_same_idempotency_key_twice_starts_one_saga(api: Api, writer: str):
    key = f"order-{uuid.uuid4()}"
    first = _create(api, writer, _input(key=key))
    second = _create(api, writer, _input(key=key))
    assert "errors" not in first, first
    saga = first["data"]["createInvoice"]
    assert second["data"]["createInvoice"]["id"] == saga["id"]
    assert saga["definition"] == services.CREATE_INVOICE
    assert saga["idempotencyKey"] == key
    assert saga["state"] in {s.value for s in SagaState}
    assert _saga_count() == 1


def test_without_a_key_each_mutation_starts_its_own_saga(api: Api, writer: str):
    first = _create(api, writer, _input())["data"]["createInvoice"]
    second = _create(api, writer, _input())["data"]["createInvoice"]
    assert first["id"] != second["id"]
    assert _saga_count() == 2


def test_a_read_key_is_refused_and_starts_nothing(api: Api):
    response = api.post(CREATE, {"input": _input(key="read-key-try")})
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
    assert _saga_count() == 0


def test_a_mutation_sent_with_get_is_refused(api: Api, writer: str):
    response = api.client.get("/graphql", {"query": 'mutation { createInvoice(input: '
                                                    '{customerId: "1", items: []}) { id } }'},
                              HTTP_HOST=api.host, HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert _saga_count() == 0


BAD_INPUTS = [
    ("UNKNOWN_CUSTOMER", _input(customer="no-such-customer")),
    ("UNKNOWN_PRODUCT", _input(items=[{"productId": "SKU-99999", "quantity": 1}])),
    ("BAD_QUANTITY", _input(items=[{"productId": "SKU-00001", "quantity": 0}])),
    ("BAD_QUANTITY", _input(items=[{"productId": "SKU-00001", "quantity": -3}])),
    ("EMPTY_ITEMS", _input(items=[])),
    # Sent as variables, so the document's token limit does not refuse it first.
    ("TOO_MANY_LINES", _input(items=[{"productId": "SKU-00001", "quantity": 1}] * 1000)),
]


@pytest.mark.parametrize(("code", "payload"), BAD_INPUTS,
                         ids=[f"{code}-{n}" for n, (code, _) in enumerate(BAD_INPUTS)])
def test_bad_input_is_an_error_with_its_code_and_starts_nothing(api: Api, writer: str,
                                                                code: str,
                                                                payload: dict[str, Any]):
    body = _create(api, writer, payload)
    assert body["data"] == {"createInvoice": None}
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, body
    assert error["path"] == ["createInvoice"]
    assert error["message"]
    assert _saga_count() == 0


def test_a_customers_source_that_cannot_answer_is_an_outage_not_a_bad_input(api: Api,
                                                                         writer: str):
    control(api.sources.directus_url, "faults", {"down": True})
    try:
        body = _create(api, writer, _input(customer="117"))  # never read: nothing cached
    finally:
        control(api.sources.directus_url, "faults", {})
    assert body["data"] == {"createInvoice": None}
    assert body["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE", body
    assert _saga_count() == 0


def test_a_reused_key_with_other_input_is_a_conflict(api: Api, writer: str):
    key = f"order-{uuid.uuid4()}"
    started = _create(api, writer, _input(key=key))["data"]["createInvoice"]
    other = _create(api, writer, _input(customer="2", key=key))
    assert other["data"] == {"createInvoice": None}
    assert other["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert [s.id for s in services.list_sagas().sagas] == [started["id"]]


@pytest.mark.parametrize("key", ["", "   ", "k" * 201])
def test_a_blank_or_overlong_idempotency_key_is_refused(api: Api, writer: str, key: str):
    body = _create(api, writer, _input(key=key))
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"
    assert _saga_count() == 0


def test_a_missing_field_is_a_request_error(api: Api, writer: str):
    response = api.post(CREATE, {"input": {"customerId": "1"}}, key=writer)
    assert response.status_code == 400
    assert _saga_count() == 0


def test_saga_shows_its_state_and_timeline(api: Api, writer: str):
    started = _create(api, writer, _input())["data"]["createInvoice"]
    body = api.query(SAGA, {"id": started["id"]})
    assert "errors" not in body, body
    saga = body["data"]["saga"]
    assert saga["id"] == started["id"]
    assert saga["state"] == started["state"]
    assert isinstance(saga["timeline"], list)


def test_an_unknown_saga_is_an_error_with_its_code(api: Api):
    body = api.query(SAGA, {"id": str(uuid.uuid4())})
    assert body["data"] == {"saga": None}
    assert body["errors"][0]["extensions"]["code"] == "SAGA_NOT_FOUND"


def test_saga_answers_are_never_served_stale_from_the_cache(api: Api, writer: str,
                                                            settings):
    settings.GRAPHQL_RESPONSE_CACHE_SECONDS = 600
    started = _create(api, writer, _input())["data"]["createInvoice"]
    before = api.query(SAGA, {"id": started["id"]})["data"]["saga"]
    aborted = services.abort_saga(started["id"])
    assert aborted.state.value != before["state"]
    after = api.query(SAGA, {"id": started["id"]})["data"]["saga"]
    assert after["state"] == aborted.state.value


def test_sagas_pages_newest_first_without_overlap(api: Api, writer: str):
    started = [_create(api, writer, _input(customer=str(n)))["data"]["createInvoice"]["id"]
               for n in (1, 2, 3)]
    first = api.query(PAGE, {"first": 2})["data"]["sagas"]
    assert [n["id"] for n in first["nodes"]] == started[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = api.query(PAGE, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    page = rest["data"]["sagas"]
    assert [n["id"] for n in page["nodes"]] == [started[0]]
    assert page["pageInfo"]["hasNextPage"] is False


def test_sagas_filters_by_state(api: Api, writer: str):
    kept = _create(api, writer, _input(customer="1"))["data"]["createInvoice"]
    aborted = _create(api, writer, _input(customer="2"))["data"]["createInvoice"]
    state = services.abort_saga(aborted["id"]).state
    body = api.query(PAGE, {"state": state.value})["data"]["sagas"]
    assert [n["id"] for n in body["nodes"]] == [aborted["id"]]
    assert kept["id"] not in [n["id"] for n in body["nodes"]]


@pytest.mark.parametrize(("variables", "message"), [
    ({"first": 0}, "between 1 and"),
    ({"first": 101}, "between 1 and"),
    ({"after": "bm90LWEtY3Vyc29y"}, "not a sagas cursor"),
    ({"after": "%%%"}, "not a sagas cursor"),
])
def test_bad_page_arguments_are_refused(api: Api, variables: dict[str, Any], message: str):
    response = api.post(PAGE, variables)
    # `sagas` is non-null: its refusal nulls `data`, a field error of an executed request.
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"
    assert message in body["errors"][0]["message"]


def test_the_query_limits_apply_to_mutations(api: Api, writer: str):
    aliases = " ".join(
        f'a{n}: createInvoice(input: {{customerId: "1", items: '
        f'[{{productId: "SKU-00001", quantity: 1}}]}}) {{ id }}' for n in range(60))
    response = api.post(f"mutation {{ {aliases} }}", key=writer)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert _saga_count() == 0


def test_the_rate_limit_applies_to_mutations(api: Api, settings):
    settings.GRAPHQL_RATE_LIMIT_WINDOW_SECONDS = 600  # no window ends during the test
    settings.GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = 10
    set_tenant_graphql_limits(api.tenant, {"rate_limit_per_minute": 2})
    ratelimit.reset()
    _, key = create_api_key(api.tenant, "rate limited writer", ["write"])  # a fresh counter
    for _ in range(2):
        assert _create(api, key, _input())["data"]["createInvoice"]["id"]
    response = api.post(CREATE, {"input": _input()}, key=key)
    assert response.status_code == 429
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert _saga_count() == 2


def test_the_saga_joins_the_trace_of_the_mutation(api: Api, writer: str):
    trace_id = uuid.uuid4().hex
    response = api.client.post(
        "/graphql", data={"query": CREATE.replace("input }", "input traceId }"),
                          "variables": {"input": _input()}},
        content_type="application/json", HTTP_HOST=api.host,
        HTTP_AUTHORIZATION=f"Bearer {writer}",
        HTTP_TRACEPARENT=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["createInvoice"]["traceId"] == trace_id
