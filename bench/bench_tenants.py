"""One deployment with many tenants: what onboarding, migrations, the broker, the database,
the processes and GraphQL cost at N tenants (20 by default, so that `make bench` stays
short; docs/scale.md has the run at 1,000 and how it was made).

    DATABASE_URL=postgres://... KAFKA_BOOTSTRAP_SERVERS=... REDIS_URL=... \\
        python bench/bench_tenants.py --tenants 1000 --migrated 200 --workers 4 [--drop]

Tenants are named ``bench_t0001`` ... and kept between runs (onboarding 1,000 takes hours
on a busy machine), so a second run measures everything but onboarding on the tenants the
first made; ``--drop`` offboards them at the end (schemas, topics, keys). Phases, each
printing its figures:

- onboard: each missing tenant onboarded (schema, migrations, domain, topics, admin key) by
  ``--workers`` processes; seconds per tenant, p50/p99, and the wall time. With
  ``--migrated M``, tenants after M (but the ``--late`` last ones) get their schema from a
  template (see onboard_slugs) and are reported apart;
- migrate: ``migrate_schemas`` with nothing to do: django-tenants' standard executor (the
  baseline) on ``--baseline-schemas`` schemas against the platform's
  (``dictamesh.database.migrate_executor``) on all, median of 3, seconds per schema and the
  ratio; then one ``manage.py migrate_schemas`` in a fresh process;
- broker: topics and partitions; database: its size and the size of one tenant's schema;
- processes: RSS of a web process (gunicorn, one worker) after one tenant's GraphQL request
  and after ``--rss-tenants`` tenants', then p50/p99 of one tenant's GraphQL query over HTTP
  while N tenants exist;
- worker: RSS of a Celery worker (the outbox relay and the catalog group) for
  ``--worker-seconds``;
- topics: only the tenants' topics, created as onboarding creates them for a tenant of
  partition tier ``--topic-tier`` (in batches), for the consumer groups at 1,000 tenants;
- rebalance: a member of the ``catalog`` group subscribed as the runner subscribes (to the
  topics its routes match, by name), from subscribe to partitions assigned, again when a
  second member joins, then the rebalances and coordinator warnings while both poll;
  ``--pattern-baseline`` measures the pattern subscription the runner had before too.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import logging
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from _support import ROOT, percentile, progress, setup_django

PREFIX = "bench_t"
PHASES = ("onboard", "topics", "migrate", "broker", "database", "processes", "worker",
          "rebalance")


def slug_of(index: int) -> str:
    return f"{PREFIX}{index:04d}"


def host_of(slug: str) -> str:
    return f"{slug.replace('_', '-')}.bench.localhost"


def existing_bench_tenants() -> list[str]:
    from apps.tenancy.services import tenant_schemas

    return [schema for schema in tenant_schemas() if schema.startswith(PREFIX)]


# --- onboarding -----------------------------------------------------------------------------

def onboard_slugs(slugs: Sequence[str], template_dump: Path | None) -> None:
    """Child process: onboard these tenants one after the other, one JSON line each.

    With ``template_dump``, each tenant's schema is first restored from a dump of an
    onboarded tenant's schema (renamed), so that ``onboard_tenant`` finds it in place and
    skips the migrations; everything else (row, domain, topics, key, audit) is its own.
    """
    from django.conf import settings

    from apps.tenancy.services import onboard_tenant

    dump = template_dump.read_text() if template_dump else None
    for slug in slugs:
        started = time.perf_counter()
        if dump is not None:
            _restore_schema(dump.replace(TEMPLATE, slug), settings.DATABASES["default"])
        onboard_tenant(slug, name=slug, domain=host_of(slug))
        print(json.dumps({"slug": slug, "seconds": time.perf_counter() - started,
                          "path": "template" if dump else "migrations"}), flush=True)


# The tenant whose schema the template path copies; its slug appears in its dump only as the
# schema's name, so that renaming the dump's text renames the schema.
TEMPLATE = slug_of(1)


def _psql_env(database: dict) -> dict[str, str]:
    return {**os.environ, "PGHOST": str(database["HOST"]), "PGPORT": str(database["PORT"]),
            "PGUSER": str(database["USER"]), "PGPASSWORD": str(database.get("PASSWORD") or ""),
            "PGDATABASE": str(database["NAME"])}


def _restore_schema(sql: str, database: dict) -> None:
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-X"], input=sql, text=True,
                   env=_psql_env(database), check=True, stdout=subprocess.DEVNULL)


def _dump_template() -> Path:
    from django.conf import settings

    dump = ROOT / ".run" / "bench_tenants_template.sql"
    dump.parent.mkdir(exist_ok=True)
    with dump.open("w") as out:
        subprocess.run(["pg_dump", "--schema", TEMPLATE, "--no-owner", "--no-privileges"],
                       env=_psql_env(settings.DATABASES["default"]), stdout=out, check=True)
    return dump


def _onboard_in_processes(slugs: list[str], workers: int, template_dump: Path | None,
                          label: str) -> None:
    if not slugs:
        return
    progress(f"{label}: onboarding {len(slugs)} tenants with {workers} processes")
    command = [sys.executable, __file__]
    if template_dump is not None:
        command += ["--template-dump", str(template_dump)]
    command.append("--onboard-only")
    started = time.perf_counter()
    children = [subprocess.Popen([*command, ",".join(part)], stdout=subprocess.PIPE,
                                 text=True, cwd=ROOT)
                for part in (slugs[i::workers] for i in range(workers)) if part]
    seconds: list[float] = []
    # Kept beside the run, so that the figures of a run resumed after a stop can be joined.
    record = ROOT / ".run" / "bench_tenants_onboard.jsonl"
    with record.open("a") as log:
        for line in _merged_lines(children):
            log.write(line)
            log.flush()
            seconds.append(json.loads(line)["seconds"])
            if len(seconds) % 50 == 0:
                progress(f"{len(seconds)}/{len(slugs)} onboarded")
    failed = [child.args for child in children if child.wait() != 0]
    wall = time.perf_counter() - started
    if failed:
        raise SystemExit(f"onboarding failed in {len(failed)} process(es); rerun to resume")
    print(f"onboard {label}: {len(seconds)} tenants in {wall:.0f} s wall with {workers} "
          f"processes ({len(seconds) / wall:.2f} tenants/s); per tenant "
          f"p50 {percentile(seconds, 50):.2f} s p99 {percentile(seconds, 99):.2f} s "
          f"max {max(seconds):.2f} s")


def phase_onboard(count: int, workers: int, migrated: int, late: int) -> None:
    """Tenants 1..``migrated`` and the last ``late`` ones are onboarded as an operator does
    (every migration run in the new schema); the ones between, from the template (see
    onboard_slugs), because at a few seconds each on a busy machine migrations would take
    hours. The late ones show what onboarding costs once ~``count`` tenants exist."""
    ROOT.joinpath(".run").mkdir(exist_ok=True)
    present = set(existing_bench_tenants())
    missing = [i for i in range(1, count + 1) if slug_of(i) not in present]
    if not missing:
        print(f"onboard: all {count} tenants exist already (kept from an earlier run)")
        return
    late_from = max(migrated + 1, count - late + 1)
    first = [slug_of(i) for i in missing if i <= migrated or i == 1]
    middle = [slug_of(i) for i in missing if migrated < i < late_from and i != 1]
    last = [slug_of(i) for i in missing if i >= late_from and i > migrated]
    _onboard_in_processes(first, workers, None, f"with migrations (tenants 1-{migrated})")
    if middle:
        _onboard_in_processes(middle, workers, _dump_template(),
                              f"from the template schema (tenants {migrated + 1}-"
                              f"{late_from - 1})")
    _onboard_in_processes(last, workers, None,
                          f"with migrations, late (tenants {late_from}-{count})")


def _merged_lines(children: Sequence[subprocess.Popen[str]]) -> Iterator[str]:
    """Lines of every child's stdout as they come (a thread per child)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    for child in children:
        threading.Thread(target=pump, args=(child,), daemon=True).start()
    running = len(children)
    while running:
        line = lines.get()
        if line is None:
            running -= 1
        else:
            yield line



# --- the tenants' topics alone, for the consumer groups at scale -------------------------

def phase_topics(count: int, tier: str, batch: int) -> None:
    """Create tenants 1..``count``'s topics as onboarding does for a tenant of partition
    ``tier`` (the spec's per-tenant topics capped by the tier, through the same
    ``provision``), ``batch`` tenants per CreateTopics request. Topics that exist are left
    as they are, so a stopped run resumes. Onboarding 1,000 tenants with their migrations
    takes hours here, and the consumer groups see only topics: no schema is made."""
    from django.conf import settings

    from dictamesh.events.topics import configured_spec, open_admin, provision

    spec = configured_spec()
    admin = open_admin(settings.KAFKA_BOOTSTRAP_SERVERS, timeout_ms=300_000)
    started = time.perf_counter()
    created = 0
    try:
        for first in range(1, count + 1, batch):
            wanted = [topic for index in range(first, min(first + batch, count + 1))
                      for topic in spec.for_tenant(slug_of(index), partition_tier=tier)]
            began = time.perf_counter()
            report = provision(admin, wanted)
            if report.errors:
                raise RuntimeError("; ".join(report.errors[:3]))
            created += len(report.created)
            progress(f"topics of tenants {first}-{first + batch - 1}: {len(report.created)} "
                     f"created in {time.perf_counter() - began:.1f} s")
    finally:
        admin.close()
    print(f"topics: {created} created for {count} tenants of partition tier {tier!r} in "
          f"{time.perf_counter() - started:.0f} s")


# --- migrate_schemas with nothing to do ---------------------------------------------------

def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def phase_migrate(sample: int) -> None:
    """django-tenants' standard executor (every schema through ``migrate``, as before) on
    ``sample`` schemas, against the platform's executor on every schema; in process, median
    of 3, the command's own start-up and checks excluded (both pay them once). Then one
    ``migrate_schemas`` as an operator runs it, in a fresh process, all included."""
    from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
    from django_tenants.migration_executors.standard import StandardExecutor

    from dictamesh.database.migrate_executor import SkipUpToDateExecutor

    schemas = existing_bench_tenants()
    some = schemas[:sample]
    # The options `manage.py migrate_schemas` passes: each schema's `migrate` runs the
    # system checks again unless the executor turns them off.
    parser = MigrateSchemasCommand().create_parser("manage.py", "migrate_schemas")
    options = {**vars(parser.parse_args([])), "verbosity": 0, "interactive": False}
    with contextlib.redirect_stdout(io.StringIO()):
        baseline = statistics.median(
            _timed(lambda: StandardExecutor((), dict(options)).run_migrations(list(some)))
            for _ in range(3))
        skipping = statistics.median(
            _timed(lambda: SkipUpToDateExecutor((), dict(options)).run_migrations(
                list(schemas))) for _ in range(3))
    per_baseline, per_skip = baseline / len(some), skipping / len(schemas)
    print(f"migrate (nothing to do): standard executor {per_baseline:.3f} s/schema "
          f"({len(some)} schemas, {baseline:.1f} s); skip-up-to-date {per_skip:.4f} s/schema "
          f"({len(schemas)} schemas, {skipping:.2f} s); ratio {per_baseline / per_skip:.0f}x")
    wall = _timed(lambda: subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--noinput", "-v", "0"],
        cwd=ROOT, check=True, capture_output=True))
    print(f"migrate: `manage.py migrate_schemas` over public + {len(schemas)} schemas in a "
          f"fresh process: {wall:.1f} s wall ({wall / len(schemas):.4f} s/schema)")


# --- broker and database ------------------------------------------------------------------

def phase_broker() -> None:
    from django.conf import settings

    from dictamesh.events.topics import open_admin

    admin = open_admin(settings.KAFKA_BOOTSTRAP_SERVERS, timeout_ms=120_000)
    try:
        topics = admin.describe_topics()
    finally:
        admin.close()
    mine = [t for t in topics if t["name"].startswith(PREFIX)]
    tenants = {t["name"].split(".", 1)[0] for t in mine}
    partitions = sum(len(t["partitions"]) for t in mine)
    print(f"broker: {len(mine)} topics, {partitions} partitions of {len(tenants)} bench "
          f"tenants ({len(mine) / max(1, len(tenants)):.0f} topics, "
          f"{partitions / max(1, len(tenants)):.0f} partitions per tenant); "
          f"{len(topics)} topics on the broker in all")


def phase_database() -> None:
    from django.db import connection

    schemas = existing_bench_tenants()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        total = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0), count(*) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", [schemas[-1]])
        one, tables = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_class")
        relations = cursor.fetchone()[0]
    print(f"database: {total / 2**20:.0f} MiB with {len(schemas)} bench tenants "
          f"({total / 2**20 / max(1, len(schemas)):.2f} MiB per tenant); an empty tenant "
          f"schema {one / 2**10:.0f} KiB in {tables} tables; {relations} relations in "
          f"pg_class")


# --- processes: web (GraphQL) and worker ---------------------------------------------------

QUERY = '{ relationshipGraph(type: "customer", id: "1") { nodes { depth } } }'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _graphql(port: int, slug: str, key: str) -> float:
    body = json.dumps({"query": QUERY})
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/graphql", body, headers={
            "Host": host_of(slug), "Content-Type": "application/json",
            "Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    if response.status != 200 or answer.get("errors"):
        raise RuntimeError(f"{slug}: {response.status} {answer}")
    return (time.perf_counter() - started) * 1000


def _wait_healthy(port: int, deadline_s: float = 180) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the web process did not answer /healthz")


def phase_processes(rss_tenants: int, requests: int) -> None:
    from apps.tenancy.services import create_api_key

    schemas = existing_bench_tenants()
    visited = schemas[:: max(1, len(schemas) // rss_tenants)][:rss_tenants]
    keys = {slug: create_api_key(slug, "bench_tenants", ["read"])[1] for slug in visited}
    port = _free_port()
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn",
                            "config.wsgi"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port)
        worker_pid = int(subprocess.check_output(["pgrep", "-P", str(web.pid)]).split()[0])
        first = visited[0]
        _graphql(port, first, keys[first])
        after_one = _rss_mib(worker_pid)
        for slug in visited:
            _graphql(port, slug, keys[slug])
        after_all = _rss_mib(worker_pid)
        samples = [_graphql(port, first, keys[first]) for _ in range(requests)]
        print(f"web: gunicorn worker RSS {after_one:.0f} MiB after one tenant's request, "
              f"{after_all:.0f} MiB after {len(visited)} tenants' "
              f"({(after_all - after_one) * 1024 / max(1, len(visited) - 1):.0f} KiB per "
              f"tenant); {len(schemas)} tenants exist")
        print(f"graphql: one tenant's relationshipGraph over HTTP while {len(schemas)} "
              f"tenants exist: p50 {percentile(samples, 50):.1f} ms "
              f"p99 {percentile(samples, 99):.1f} ms (n={len(samples)})")
    finally:
        web.terminate()
        web.wait(timeout=60)


def phase_worker(seconds: float) -> None:
    """A Celery worker (relay and the catalog consumer group) for ``seconds``: its RSS."""
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker",
                               "--pool", "solo", "--loglevel", "WARNING"], cwd=ROOT,
                              env={**os.environ, "WORKER_METRICS_PORT": "0"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        peak = 0.0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and worker.poll() is None:
            peak = max(peak, _rss_mib(worker.pid))
            time.sleep(1)
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode})")
        print(f"worker: Celery worker (outbox relay + catalog consumers) RSS "
              f"{_rss_mib(worker.pid):.0f} MiB after {seconds:.0f} s, peak {peak:.0f} MiB, "
              f"with {len(existing_bench_tenants())} tenants")
    finally:
        worker.terminate()
        worker.wait(timeout=120)


# --- the catalog consumer group at scale: join and rebalance ------------------------------

class _Member:
    """One member of the measured group: a KafkaConsumer with the runner's settings, and
    when its partitions were last assigned (None while a join is on its way)."""

    def __init__(self, config: Any, subscribe: Callable[[Any, Any], None]) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        member = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                member.assigned_at = None
                member.revocations += 1

            def on_partitions_assigned(self, assigned: Any) -> None:
                member.assigned_at, member.partitions = time.perf_counter(), len(assigned)

        self.assigned_at: float | None = None
        self.partitions = 0
        self.revocations = 0
        self.consumer = KafkaConsumer(**config.consumer_config())
        subscribe(self.consumer, Listener())


def _poll_until_assigned(members: Sequence[_Member], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(member.assigned_at is None for member in members):
        if time.monotonic() > deadline:
            return False
        for member in members:
            member.consumer.poll(timeout_ms=100)
    return True


class _CoordinatorWarnings(logging.Handler):
    """kafka-python's warnings about the group (failed heartbeats, expired sessions,
    rejoins), and its event loop's stalls (a task that held it over a second: no heartbeat
    goes out meanwhile), counted while the group is measured."""

    def __init__(self, session_s: float) -> None:
        super().__init__(logging.WARNING)
        self.session_s = session_s
        self.messages: list[str] = []
        self.stalls: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name.startswith("kafka.coordinator"):
            self.messages.append(message[:160])
        elif record.name == "kafka.net.selector" and " ran for " in message:
            self.stalls.append(float(message.split(" ran for ")[1].split("s", 1)[0]))

    def stall_text(self) -> str:
        if not self.stalls:
            return "no event-loop stall over 1 s"
        return (f"{len(self.stalls)} event-loop stalls over 1 s (longest "
                f"{max(self.stalls):.1f} s, session timeout {self.session_s:.0f} s)")


def _measure_group(label: str, config: Any, subscribe: Callable[[Any, Any], None],
                   settle_s: float, observe_s: float) -> float | None:
    """From subscribe to the first member's assignment; then a second member joins: until
    both hold partitions; then ``observe_s`` of both polling, counting the rebalances and
    the coordinator's warnings (a missed session shows as both). Returns the seconds to
    the first assignment (None: none within ``settle_s``)."""
    warnings = _CoordinatorWarnings(config.session_timeout_ms / 1000)
    logging.getLogger("kafka").addHandler(warnings)
    members: list[_Member] = []
    try:
        started = time.perf_counter()
        members.append(_Member(config, subscribe))
        if not _poll_until_assigned(members, settle_s):
            print(f"rebalance ({label}): the first member held no assignment "
                  f"{settle_s:.0f} s after subscribing; {warnings.stall_text()}; "
                  f"{len(warnings.messages)} coordinator warnings, e.g. "
                  f"{warnings.messages[:2]}")
            return None
        first = members[0].assigned_at - started  # type: ignore[operator]
        partitions = members[0].partitions
        started = time.perf_counter()
        members.append(_Member(config, subscribe))
        settled = _poll_until_assigned(members, settle_s)
        times = [m.assigned_at for m in members if m.assigned_at is not None]
        second = max(times) - started if settled else None
        shares = [m.partitions for m in members]
        before = [m.revocations for m in members]
        deadline = time.monotonic() + observe_s
        while settled and time.monotonic() < deadline:
            for member in members:
                member.consumer.poll(timeout_ms=100)
        rebalances = max(m.revocations - b for m, b in zip(members, before, strict=True))
        joined = f"{second:.1f} s" if second is not None else f"no settle in {settle_s:.0f} s"
        examples = f": {warnings.messages[:3]!r}" if warnings.messages else ""
        print(f"rebalance ({label}): {partitions} partitions; first member assigned "
              f"{first:.1f} s after subscribing; a second member joins and both hold "
              f"partitions ({shares[0]} + {shares[1]}) after {joined}; then {rebalances} "
              f"rebalances in {observe_s:.0f} s of both polling; {warnings.stall_text()}; "
              f"{len(warnings.messages)} coordinator warnings{examples}")
        return first
    finally:
        logging.getLogger("kafka").removeHandler(warnings)
        for member in reversed(members):
            member.consumer.close()


def phase_rebalance(settle_s: float, observe_s: float, baseline: bool) -> None:
    """The catalog group's subscription as the runner makes it (the topics its routes match
    in a listing of the cluster's topic names, by name), measured under a group of its own;
    with ``baseline``, the same group subscribing by pattern as it did before."""
    import dataclasses
    import re

    from apps.events.consumers import consumer_settings
    from apps.events.routes import handler_registry
    from dictamesh.events.handlers import subscription_regex
    from dictamesh.events.topic_directory import TopicDirectory, matching_topics

    pattern = subscription_regex(handler_registry().routes("catalog"))
    config = dataclasses.replace(consumer_settings("catalog"),
                                 group=f"bench-rebalance-{os.getpid()}")
    directory = TopicDirectory(config.bootstrap_servers, max_age_ms=config.metadata_max_age_ms)
    listing = directory.listing(newer_than=time.monotonic(), timeout_seconds=settle_s)
    topics = sorted(matching_topics(listing.names, re.compile(pattern)))
    print(f"rebalance: the cluster has {len(listing.names)} topics (listed in "
          f"{listing.seconds:.2f} s on the directory's own client); the catalog group's "
          f"routes match {len(topics)}")

    def by_name(consumer: Any, listener: Any) -> None:
        # What the runner does with every new listing (ConsumerRunner._follow_topics).
        consumer.subscribe(topics=topics, listener=listener)

    listed = _measure_group("topic list", config, by_name, settle_s, observe_s)
    if not baseline:
        return
    before = _measure_group("pattern, as before", dataclasses.replace(
        config, group=f"{config.group}-pattern"),
        lambda consumer, listener: consumer.subscribe(pattern=pattern, listener=listener),
        settle_s, observe_s)
    if listed is not None:
        ratio = (f"{before / listed:.1f}x" if before is not None
                 else f"more than {settle_s / listed:.0f}x (the pattern never settled)")
        print(f"rebalance: time to the first assignment, pattern / topic list: {ratio}")


def phase_drop() -> None:
    from apps.tenancy.services import offboard_tenant

    schemas = existing_bench_tenants()
    for slug in schemas:
        offboard_tenant(slug)
    print(f"dropped {len(schemas)} bench tenants")


# --- main -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2,
                        help="processes onboarding tenants side by side")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated subset of {', '.join(PHASES)}")
    parser.add_argument("--drop", action="store_true",
                        help="offboard the bench tenants at the end")
    parser.add_argument("--migrated", type=int, default=None,
                        help="onboard tenants 1..M with migrations (default: all), the rest "
                             "but the --late ones from a template schema")
    parser.add_argument("--late", type=int, default=20,
                        help="the last L tenants are onboarded with migrations again")
    parser.add_argument("--baseline-schemas", type=int, default=50,
                        help="schemas the standard executor's baseline migrates")
    parser.add_argument("--rss-tenants", type=int, default=50,
                        help="tenants the web process answers before its RSS is read")
    parser.add_argument("--requests", type=int, default=200,
                        help="GraphQL requests timed for the p50")
    parser.add_argument("--worker-seconds", type=float, default=90)
    parser.add_argument("--topic-tier", default="small",
                        help="topics phase: the tenants' partition tier (topics.toml)")
    parser.add_argument("--topic-batch", type=int, default=25,
                        help="topics phase: tenants per CreateTopics request")
    parser.add_argument("--settle-seconds", type=float, default=600,
                        help="rebalance phase: how long a group may take to settle")
    parser.add_argument("--observe-seconds", type=float, default=60,
                        help="rebalance phase: how long the settled group is watched")
    parser.add_argument("--pattern-baseline", action="store_true",
                        help="rebalance phase: measure the pattern subscription too")
    parser.add_argument("--onboard-only", help=argparse.SUPPRESS)
    parser.add_argument("--template-dump", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django()
    if args.onboard_only:
        onboard_slugs(args.onboard_only.split(","), args.template_dump)
        return
    phases = [phase.strip() for phase in args.phases.split(",") if phase.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases: {', '.join(unknown)}")
    if "onboard" in phases:
        migrated = args.tenants if args.migrated is None else args.migrated
        phase_onboard(args.tenants, args.workers, migrated, args.late)
    steps: dict[str, Callable[[], None]] = {
        "topics": lambda: phase_topics(args.tenants, args.topic_tier, args.topic_batch),
        "migrate": lambda: phase_migrate(args.baseline_schemas),
        "broker": phase_broker,
        "database": phase_database,
        "processes": lambda: phase_processes(args.rss_tenants, args.requests),
        "worker": lambda: phase_worker(args.worker_seconds),
        "rebalance": lambda: phase_rebalance(args.settle_seconds, args.observe_seconds,
                                             args.pattern_baseline),
    }
    for name, step in steps.items():
        if name in phases:
            progress(f"phase {name}")
            step()
    if args.drop:
        phase_drop()


if __name__ == "__main__":
    main()
