"""The local stack: `make run` on a development machine.

Checks PostgreSQL and Redis, starts the Kafka-protocol broker unless
KAFKA_BOOTSTRAP_SERVERS points at one, migrates, onboards the `demo` tenant, creates the
local admin user and connects the demo tenant to the reference sources (`devtools.demo`),
starts the reference servers, the web server, the Celery worker and beat, prints the URLs,
and stops everything it started on Ctrl-C. Later layers add their processes to `processes()`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from devtools import broker
from devtools.reference import LOCAL_PORTS

RUN_DIR = Path(os.environ.get("DICTAMESH_RUN_DIR", ".run"))
WEB_HOST = os.environ.get("DICTAMESH_WEB_HOST", "127.0.0.1")
WEB_PORT = int(os.environ.get("DICTAMESH_WEB_PORT", "8000"))
DEMO_TENANT = "demo"
DEV_ADMIN_USER = "admin"
DEV_ADMIN_PASSWORD = "admin"  # noqa: S105 - local development only, printed at start
# The demo tenant's own admin: it signs in at demo.localhost only (a tenant membership).
DEMO_ADMIN_USER = "demo-admin"
DEMO_ADMIN_PASSWORD = "demo-admin"  # noqa: S105 - local development only, printed at start


class StackError(RuntimeError):
    """The stack cannot start; the message says what to do."""


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def say(message: str) -> None:
    print(f"[dictamesh] {message}", flush=True)


def processes() -> list[Process]:
    python = sys.executable
    return [
        Process("sources", [python, "-m", "devtools.reference",
                            *(f"--{name}-port={port}" for name, port in LOCAL_PORTS.items()),
                            "--seed", "42"]),
        # ASGI: HTTP as runserver served it (static files too, while DEBUG) and GraphQL
        # subscriptions over WebSocket at ws://<tenant host>:8000/graphql.
        Process("web", [python, "-m", "uvicorn", "config.asgi:application", "--host", WEB_HOST,
                        "--port", str(WEB_PORT), "--ws", "websockets-sansio",
                        "--ws-per-message-deflate", "false",  # as config/asgi_worker.py
                        "--lifespan", "off", "--log-level", "warning"]),
        Process("worker", [python, "-m", "celery", "-A", "config", "worker",
                           "--loglevel", "INFO", "--concurrency", "2"]),
        Process("beat", [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                         "--schedule", str(RUN_DIR / "celerybeat-schedule")]),
    ]


def check_postgres(database_url: str) -> None:
    """Connect to the server; create the database if the server has none by that name."""
    import psycopg

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    server_url = url._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(server_url, connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                say(f"Creating database {name!r}...")
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise StackError(
            f"PostgreSQL is not reachable at {url.hostname}:{url.port or 5432} ({exc}). "
            "Start it (on Debian: `pg_ctlcluster 15 main start`) or set DATABASE_URL."
        ) from None


def check_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StackError(
            f"Redis is not reachable at {redis_url} ({exc}). Start it "
            "(`redis-server --daemonize yes`) or set REDIS_URL."
        ) from None
    finally:
        client.close()


def ensure_broker() -> subprocess.Popen | None:
    """Start Tansu on 127.0.0.1:9092 unless KAFKA_BOOTSTRAP_SERVERS points elsewhere."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    bootstrap = configured or broker.DEFAULT_BOOTSTRAP
    if broker.is_reachable(bootstrap):
        say(f"Kafka broker answering at {bootstrap}")
        return None
    if configured:
        raise StackError(
            f"KAFKA_BOOTSTRAP_SERVERS={configured} does not answer. Start that broker, or "
            "unset the variable to let the local stack run its own on 127.0.0.1:9092."
        )
    say(f"Starting the development broker (Tansu, memory storage) on {bootstrap}...")
    return broker.start(bootstrap, log_path=RUN_DIR / "broker.log")


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True)


def prepare_database() -> str:
    """Migrate, onboard the demo tenant and set it up; return its Directus webhook secret."""
    say("Migrating the public schema...")
    manage("migrate_schemas", "--shared", "--verbosity", "0")
    say(f"Onboarding the {DEMO_TENANT!r} tenant...")
    manage("onboard_tenant", DEMO_TENANT, "--name", "Demo", "--domain", f"{DEMO_TENANT}.localhost")
    return set_up_demo()


def set_up_demo() -> str:
    """The local admin user and the demo tenant's sources, in this process (after the
    migrations, which run in their own), closing its database connections afterwards.
    Returns the webhook secret the demo tenant's Directus source now has."""
    import django

    django.setup()
    from django.db import connections

    from devtools import demo

    webhook_secret = demo.demo_webhook_secret()
    try:
        if demo.ensure_local_admin(DEV_ADMIN_USER, DEV_ADMIN_PASSWORD):
            say(f"Created the local platform admin {DEV_ADMIN_USER!r}")
        if demo.ensure_tenant_admin(DEMO_TENANT, DEMO_ADMIN_USER, DEMO_ADMIN_PASSWORD):
            say(f"Created the {DEMO_TENANT!r} tenant's admin {DEMO_ADMIN_USER!r}")
        say("Connecting the demo tenant to the reference sources...")
        for line in demo.connect_reference_sources(DEMO_TENANT, webhook_secret):
            say(f"  {line}")
    except demo.DemoSetupError as exc:
        raise StackError(str(exc)) from None
    finally:
        connections.close_all()
    return webhook_secret


def wait_for_web(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{WEB_HOST}:{WEB_PORT}/healthz", timeout=2):  # noqa: S310
                return
        except OSError:
            time.sleep(0.5)
    raise StackError(f"The web server did not answer on port {WEB_PORT} within {timeout:.0f}s; "
                     f"see its output above (is the port taken? set DICTAMESH_WEB_PORT).")


def print_urls(webhook_secret: str) -> None:
    base = f"http://{WEB_HOST}:{WEB_PORT}"
    say("DictaMesh is running:")
    for label, url in [
        ("admin", f"{base}/admin/  (platform admin {DEV_ADMIN_USER} / password "
                  f"{DEV_ADMIN_PASSWORD})"),
        ("metrics", f"{base}/metrics"),
        ("readiness", f"{base}/readyz"),
        ("demo tenant", f"http://{DEMO_TENANT}.localhost:{WEB_PORT}/admin/  (tenant admin "
                        f"{DEMO_ADMIN_USER} / password {DEMO_ADMIN_PASSWORD})"),
        ("graphql", f"http://{DEMO_TENANT}.localhost:{WEB_PORT}/graphql  (Authorization: "
                    "Bearer <the key onboarding printed>; manage.py create_api_key demo "
                    "--scope read makes another)"),
        ("registry", f"{base}/schema-registry/subjects"),
        ("webhooks", f"http://{DEMO_TENANT}.localhost:{WEB_PORT}/webhooks/sources/customers  "
                     f"(Directus secret {webhook_secret})"),
        *((f"{name} source", f"http://127.0.0.1:{port}/__control/stats")
          for name, port in LOCAL_PORTS.items()),
    ]:
        say(f"  {label:<12} {url}")
    say("Press Ctrl-C to stop everything.")


def stop_all(children: list[tuple[Process, subprocess.Popen]]) -> None:
    for _, child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process, child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{process.name} did not stop in time; killing it")
            os.killpg(child.pid, signal.SIGKILL)


def run(exit_when_ready: bool = False) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_FORMAT", "console")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    from django.conf import settings  # after the environment is final

    check_postgres(settings.DATABASE_URL)
    check_redis(settings.REDIS_URL)
    say("PostgreSQL and Redis are reachable")
    children: list[tuple[Process, subprocess.Popen]] = []
    broker_process = ensure_broker()
    if broker_process is not None:
        children.append((Process("broker", []), broker_process))
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        webhook_secret = prepare_database()
        for process in processes():
            say(f"Starting {process.name}: {' '.join(process.argv[1:])}")
            child = subprocess.Popen(process.argv, env={**os.environ, **process.env},
                                     start_new_session=True)
            children.append((process, child))
        wait_for_web()
        print_urls(webhook_secret)
        while not stopping and not exit_when_ready:
            for process, child in children:
                if child.poll() is not None:
                    raise StackError(f"{process.name} exited with code {child.returncode}; "
                                     "see its output above.")
            time.sleep(0.5)
    finally:
        say("Stopping...")
        stop_all(children)
        say("Stopped.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exit-when-ready", action="store_true",
                        help="start everything, print the URLs, then stop (a smoke test)")
    args = parser.parse_args(argv)
    try:
        return run(exit_when_ready=args.exit_when_ready)
    except (StackError, broker.BrokerError, subprocess.CalledProcessError) as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
