"""createInvoice through a real Celery worker against the reference sources: the saga the
mutation returns runs its three steps, and `saga(id)` follows it to COMPLETED with its
timeline; the admin and the `saga` command show the same saga."""

from __future__ import annotations

import time
import uuid
from io import StringIO
from typing import Any

from django.core.management import call_command

from apps.tenancy.api_keys import create_api_key
from tests.federation.conftest import Api
from tests.federation.test_sagas_api import CREATE

FOLLOW = """
query Follow($id: ID!) {
  saga(id: $id) {
    id state currentStep outputs
    timeline { step phase attempt outcome error startedAt endedAt }
  }
}"""
STEPS = ["reserve_stock", "create_invoice", "charge_invoice"]


def _until_final(api: Api, saga_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = api.query(FOLLOW, {"id": saga_id})
        assert "errors" not in body, body
        saga = body["data"]["saga"]
        if saga["state"] in {"COMPLETED", "COMPENSATED", "FAILED", "NEEDS_ATTENTION"}:
            return saga
        assert time.monotonic() < deadline, f"saga still {saga['state']} after {timeout_s}s"
        time.sleep(0.2)


def test_create_invoice_runs_to_completed_with_its_timeline(api_committed: Api,
                                                            celery_worker):
    _, writer = create_api_key(api_committed.tenant, "saga writer", ["write"])
    key = f"order-{uuid.uuid4()}"
    response = api_committed.post(CREATE, {"input": {
        "customerId": "3", "items": [{"productId": "SKU-00002", "quantity": 1},
                                     {"productId": "SKU-00003", "quantity": 2}],
        "idempotencyKey": key}}, key=writer)
    assert response.status_code == 200, response.content
    started = response.json()["data"]["createInvoice"]

    saga = _until_final(api_committed, started["id"])
    assert saga["state"] == "COMPLETED", saga
    actions = [(e["step"], e["phase"], e["outcome"]) for e in saga["timeline"]]
    assert actions == [(step, "ACTION", "SUCCEEDED") for step in STEPS]
    assert all(e["startedAt"] <= e["endedAt"] for e in saga["timeline"])
    assert set(saga["outputs"]) == set(STEPS)

    listed = api_committed.query("{ sagas(first: 1) { nodes { id timeline { step } } } }")
    node = listed["data"]["sagas"]["nodes"][0]
    assert node["id"] == started["id"]
    assert [e["step"] for e in node["timeline"]] == STEPS  # pages read timelines too

    again = api_committed.post(CREATE, {"input": {
        "customerId": "3", "items": [{"productId": "SKU-00002", "quantity": 1},
                                     {"productId": "SKU-00003", "quantity": 2}],
        "idempotencyKey": key}}, key=writer).json()
    assert again["data"]["createInvoice"] == {**started, "state": "COMPLETED"}

    shown = StringIO()
    call_command("saga", "show", started["id"], "--tenant", api_committed.tenant,
                 stdout=shown)
    for step in STEPS:
        assert f"{step:20}  action" in shown.getvalue()
