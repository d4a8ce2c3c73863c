"""GraphQL subscriptions: 1,000 concurrent subscribers on one ASGI process.

    .venv/bin/python bench/bench_subscriptions.py [--subscribers 1000] [--events 10]

Prints
- memory per idle subscriber: the uvicorn process' RSS growth per subscribed socket;
- events delivered per second: `next` messages the 1,000 sockets receive for events put
  on the channel layer as the `live` consumer group does (median of 3 rounds), against a
  baseline measured in the same run: the channel layer alone fanning the same events out
  to as many channels, with no socket and no GraphQL execution;
- source write -> subscriber latency p50/p99 through the webhook path (reference Directus
  -> webhook on the ASGI process -> outbox -> relay -> Kafka -> `live` group in a Celery
  worker -> channel layer -> socket) while the 1,000 sockets are subscribed; target p50 < 1 s.

The server runs with per-key limits raised: one key opens all the sockets. The reference
Directus runs in a process of its own (a source is another system), uvicorn with the asgi
role's options (config/asgi_worker.py).

Where the time goes: a profile of the latency path (a timestamp at each stage, medians
over 20-40 writes with 1,000 sockets subscribed, on the shared 2-core machine), before ->
after the changes it led to; p50 went from 0.96-1.46 s to 0.42-0.66 s:

    write -> webhook reaches the ASGI process     235 ->  70 ms  Directus ran on this
                                                                  process' threads, behind
                                                                  the sockets' reading
    webhook: read the item back, outbox row        95 ->  75 ms
    outbox -> Kafka (relay polls every 200 ms)    105 -> 100 ms  OUTBOX_RELAY_IDLE_MS
                                                                  (now woken by a NOTIFY
                                                                  at commit: see below)
    Kafka -> the `live` group's poll              120 ->  40 ms  fetch_max_wait_ms 500 ->
                                                                  100 for this group
    poll -> batch handed to the handler           250 ->  20 ms  batch_max_wait_ms 500 ->
                                                                  50 for this group
    handler -> channel layer -> hub                25 ->  30 ms
    hub -> the shared execution starts             85 ->  15 ms  started as the hub hands
                                                                  the event out, not behind
                                                                  1,000 sender tasks
    execution -> first socket's `next`             30 ->  35 ms
    first `next` -> the probe socket's arrival    ~150 -> 135 ms  its place among the 1,000
                                                                  sends (4,000/s)

In the ASGI process' event loop during fan-out (py-spy), the sockets' sends took 70% of
the time, and permessage-deflate a quarter of that: each socket compressed every event
again; the asgi role now declines it. Memory per idle subscriber fell from ~90 to ~42 KiB
with it and with no channel-layer channel per socket (the hub reads for all of them).
What was left was mostly the relay's poll interval, and the fan-out itself. The relay now
wakes on the NOTIFY of the outbox write's commit (apps/events/relay_worker.py): with 50
sockets and 40 writes, 5 interleaved rounds each in one sitting (load average 2.4-3.2),
p50 went from 221-229 ms (polling) to 87-182 ms (medians 223 -> 123), p99 from 371-468 to
259-458 ms (one run's 2.7 s outlier aside), and the run's CPU (bench, server and worker,
user + sys) from 11.2-12.1 to 9.7-11.6 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _support import ROOT, percentile, progress, setup_django, throwaway_tenant

SLUG = "bench_live"
HOST = f"{SLUG.replace('_', '-')}.bench.localhost"
DOCUMENT = ('subscription { entityChanged(type: "customer") { id changedFields '
            "entity { ... on Customer { name email } } } }")
WAIT = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _server_env() -> dict[str, str]:
    return {**os.environ, "LOG_LEVEL": "WARNING", "GRAPHQL_WS_MESSAGES_PER_SECOND": "1000000",
            "GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_KEY": "100000",
            "GRAPHQL_RATE_LIMIT_PER_MINUTE": "1000000"}


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=ROOT, env=_server_env(), stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)


def _wait_http(port: int, server: subprocess.Popen[bytes], what: str = "the ASGI server",
               path: str = "/healthz") -> None:
    import requests

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{what} exited")
        try:
            requests.get(f"http://127.0.0.1:{port}{path}", timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


class Subscriber:
    """One raw graphql-transport-ws socket: counts `next` messages, notes when names arrive."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.received = 0
        self.arrivals: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expected = 0

    @classmethod
    async def open(cls, port: int, key: str) -> Subscriber:
        import websockets

        connection = await websockets.connect(
            f"ws://{HOST}:{port}/graphql", host="127.0.0.1", port=port,
            subprotocols=["graphql-transport-ws"], open_timeout=WAIT, max_size=None)  # type: ignore[list-item]
        await connection.send(json.dumps({"type": "connection_init",
                                          "payload": {"Authorization": f"Bearer {KEY}"}}))
        assert json.loads(await connection.recv())["type"] == "connection_ack"
        await connection.send(json.dumps({"type": "subscribe", "id": "1",
                                          "payload": {"query": DOCUMENT}}))
        await connection.send(json.dumps({"type": "ping"}))
        reply = json.loads(await connection.recv())
        assert reply == {"type": "pong"}, reply
        subscriber = cls(connection)
        asyncio.get_running_loop().create_task(subscriber._read())
        return subscriber

    async def _read(self) -> None:
        async for text in self.connection:
            message = json.loads(text)
            if message["type"] != "next":
                continue
            self.received += 1
            entity = message["payload"]["data"]["entityChanged"]["entity"] or {}
            self.arrivals[str(entity.get("name"))] = time.perf_counter()
            if self.received >= self.expected:
                self.done.set()


KEY = ""


async def _fan_out_round(subscribers: list[Subscriber], events: int) -> float:
    """Deliveries per second for ``events`` events to every subscriber."""
    from apps.federation.subscriptions.event_handlers import publish
    from apps.federation.subscriptions.messages import entity_group

    for subscriber in subscribers:
        subscriber.expected = subscriber.received + events
        subscriber.done.clear()
    group = entity_group(SLUG, "customer")
    messages = [(group, _message(f"fan-{uuid.uuid4().hex[:8]}")) for _ in range(events)]
    started = time.perf_counter()
    await asyncio.to_thread(publish, messages)
    await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in subscribers)), 5 * WAIT)
    return events * len(subscribers) / (time.perf_counter() - started)


def _message(name: str) -> dict[str, Any]:
    return {"kind": "entity", "event_id": str(uuid.uuid4()), "tenant": SLUG,
            "entity_type": "customer", "entity_id": "1", "version": 1, "source": "directus",
            "change": "UPDATED", "deleted": False, "changed_fields": ["name"],
            "attributes": {"name": name, "email": "bench@example.com"},
            "timestamp_ms": int(time.time() * 1000)}


async def _baseline_round(channels: int, events: int) -> float:
    """The channel layer alone: the same events to as many channels, read by this process."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    group = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    names = [await layer.new_channel() for _ in range(channels)]
    for name in names:
        await layer.group_add(group, name)

    async def drain(name: str) -> None:
        for _ in range(events):
            await layer.receive(name)

    readers = [asyncio.ensure_future(drain(name)) for name in names]
    started = time.perf_counter()
    for _ in range(events):
        await layer.group_send(group, {"type": "live.event", **_message("baseline")})
    await asyncio.wait_for(asyncio.gather(*readers), WAIT)
    elapsed = time.perf_counter() - started
    for name in names:
        await layer.group_discard(group, name)
    return events * channels / elapsed


async def _latency(probe: Subscriber, directus_url: str, token: str, writes: int) -> list[float]:
    import requests

    latencies = []
    for n in range(writes):
        name = f"latency-{n}-{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        response = await asyncio.to_thread(
            requests.patch, f"{directus_url}/items/customers/1", json={"name": name},
            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        response.raise_for_status()
        deadline = time.monotonic() + WAIT
        while name not in probe.arrivals:
            if time.monotonic() > deadline:
                closed = probe.connection.close_code
                raise RuntimeError(f"write {n} never reached the subscriber" + (
                    f" (its socket closed: {closed} {probe.connection.close_reason})"
                    if closed is not None else ""))
            await asyncio.sleep(0.002)
        latencies.append((probe.arrivals[name] - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--writes", type=int, default=40)
    args = parser.parse_args()
    setup_django()
    run_dir = ROOT / ".run"
    run_dir.mkdir(exist_ok=True)
    # The source in a process of its own, as it is another system: in this one it would
    # compete for the interpreter with the thousand sockets' reading.
    directus_port = _free_port()
    sources = _start([sys.executable, "-m", "devtools.reference", "--seed", "5",
                      f"--directus-port={directus_port}", "--products-port=0",
                      "--ecommerce-port=0", "--suppliers-port=0"], run_dir / "bench-sources.log")
    try:
        _wait_http(directus_port, sources, "the reference sources", "/server/health")
        with throwaway_tenant(SLUG, provision_topics=True):
            _serve_and_measure(args, f"http://127.0.0.1:{directus_port}", run_dir)
    finally:
        sources.terminate()
        sources.wait(timeout=60)


def _serve_and_measure(args: argparse.Namespace, directus_url: str, run_dir: Path) -> None:
    global KEY
    import requests
    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.adapters import services as adapters
    from apps.tenancy.api_keys import create_api_key
    from apps.tenancy.models import Domain, Tenant
    from devtools.reference import directus

    secret = uuid.uuid4().hex
    adapters.connect_source("customers", "directus", directus_url,
                            {"token": directus.DEFAULT_TOKEN, "webhook_secret": secret})
    with schema_context("public"):
        Domain.objects.get_or_create(domain="localhost", defaults={
            "tenant": Tenant.objects.get(schema_name=SLUG), "is_primary": False})
    _, KEY = create_api_key(SLUG, "bench", ["read"])
    port = _free_port()
    # The image's asgi role's options (config/asgi_worker.py).
    server = _start([sys.executable, "-m", "uvicorn", "config.asgi:application",
                     "--port", str(port), "--ws", "websockets-sansio", "--lifespan", "off",
                     "--ws-per-message-deflate", "false", "--log-level", "warning"],
                    run_dir / "bench-asgi.log")
    worker = _start([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool",
                     "solo", "--loglevel", "WARNING", "-Q", f"bench-{uuid.uuid4().hex[:6]}"],
                    run_dir / "bench-worker.log")
    try:
        _wait_http(port, server)
        requests.post(f"{directus_url}/__control/webhook", timeout=10, json={
            "url": f"http://localhost:{port}/webhooks/sources/customers", "secret": secret})
        asyncio.run(_measure(args, port, server.pid, directus_url, directus.DEFAULT_TOKEN,
                             settings))
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=60)
        with schema_context("public"):
            Domain.objects.filter(domain="localhost").delete()


async def _measure(args: argparse.Namespace, port: int, pid: int, directus_url: str,
                   token: str, settings: Any) -> None:
    warm = await Subscriber.open(port, KEY)  # imports and pools warmed: not counted
    await asyncio.sleep(1)
    before = _rss_kib(pid)
    progress(f"opening {args.subscribers} subscriptions")
    subscribers = [warm]
    for start in range(0, args.subscribers - 1, 100):
        batch = min(100, args.subscribers - 1 - start)
        subscribers += await asyncio.gather(*(Subscriber.open(port, KEY) for _ in range(batch)))
    await asyncio.sleep(1)
    after = _rss_kib(pid)
    per_socket = (after - before) / (len(subscribers) - 1)
    print(f"subscribers           {len(subscribers)} on one ASGI process (uvicorn)")
    print(f"memory per idle sub   {per_socket:7.1f} KiB  (RSS {before / 1024:.0f} -> "
          f"{after / 1024:.0f} MiB)")

    ours = [await _fan_out_round(subscribers, args.events) for _ in range(3)]
    base = [await _baseline_round(len(subscribers), args.events) for _ in range(3)]
    print(f"events delivered/s    {statistics.median(ours):9.0f} next messages/s "
          f"({args.events} events x {len(subscribers)} sockets, median of 3)")
    print(f"baseline              {statistics.median(base):9.0f} messages/s "
          "(channel layer alone, same fan-out, median of 3)")
    print(f"ratio                 {statistics.median(ours) / statistics.median(base):9.2f} "
          "x the channel layer's own fan-out rate")

    progress("waiting for the worker's consumer groups (first write)")
    await _latency(warm, directus_url, token, 1)  # joins the groups; not counted
    latencies = await _latency(warm, directus_url, token, args.writes)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"write -> subscriber   p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  n={len(latencies)} "
          f"(webhook path, {len(subscribers)} sockets subscribed)")
    print(f"target                p50 < 1000 ms: {p50 / 1000:5.2f} x the target")
    for subscriber in subscribers:
        await subscriber.connection.close()


if __name__ == "__main__":
    main()
