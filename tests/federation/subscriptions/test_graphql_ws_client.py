"""The `graphql-ws` npm client (what Apollo Client's GraphQLWsLink runs) subscribes and
receives a change (devtools/federation-check/subscribe.mjs, pinned with the composers)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time

from apps.federation.subscriptions.event_handlers import publish
from apps.federation.subscriptions.messages import live_messages
from tests.conftest import tenant_host
from tests.federation.subscriptions.conftest import WAIT_SECONDS
from tests.federation.subscriptions.live import entity_event
from tests.federation.test_federation_check import _installed

DOCUMENT = ('subscription { entityChanged(type: "customer", ids: ["5"]) { id changedFields '
            "entity { ... on Customer { name } } } }")


def test_the_graphql_ws_client_receives_a_change(api_committed, asgi_server):
    home = _installed()
    tenant = api_committed.tenant
    client = subprocess.Popen(
        ["node", "subscribe.mjs", f"ws://127.0.0.1:{asgi_server.port}/graphql",
         tenant_host(tenant), api_committed.key, DOCUMENT],
        cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The protocol does not acknowledge `subscribe`: publish until the client has one
        # (each event is a complete answer; the client exits on the first).
        deadline = time.monotonic() + 2 * WAIT_SECONDS
        while client.poll() is None:
            assert time.monotonic() < deadline, "the graphql-ws client received nothing"
            publish(list(live_messages([entity_event(tenant, "customer", "5",
                                                     {"name": "From Node"}, ["name"])])))
            with contextlib.suppress(subprocess.TimeoutExpired):
                client.wait(timeout=0.5)
        out, err = client.communicate(timeout=WAIT_SECONDS)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, (out, err)
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"data": {"entityChanged": {
        "id": "5", "changedFields": ["name"], "entity": {"name": "From Node"}}}}
