"""The platform through PgBouncer (Debian's pgbouncer) with deploy/pgbouncer/pgbouncer.ini:
session pooling serves each tenant its own schema, and the test that shows why transaction
pooling does not (docs/pgbouncer.md)."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.events.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_INI = ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
DEFAULT_SEARCH_PATH = '"$user", public'


def _shipped_config() -> configparser.ConfigParser:
    config = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config.read(SHIPPED_INI, encoding="utf-8")
    return config


@pytest.fixture
def start_pgbouncer() -> Iterator[Callable[..., int]]:
    """Start PgBouncer with the shipped file, pointed at this machine's PostgreSQL."""
    processes: list[subprocess.Popen[bytes]] = []
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    directory.chmod(0o755)  # PgBouncer drops root: the files must be readable by nobody

    def start(*, pool_mode: str | None = None, pool_size: int | None = None) -> int:
        config = _shipped_config()
        database = connection.settings_dict
        config["databases"] = {
            "*": f"host={database['HOST'] or '127.0.0.1'} port={database['PORT'] or 5432}"}
        port = free_port()
        section = config["pgbouncer"]
        section.update({"listen_addr": "127.0.0.1", "listen_port": str(port),
                        "unix_socket_dir": "", "auth_type": "trust",
                        "auth_file": str(directory / "userlist.txt")})
        if pool_mode:
            section["pool_mode"] = pool_mode
        if pool_size:
            section.update({"default_pool_size": str(pool_size), "reserve_pool_size": "0"})
        (directory / "userlist.txt").write_text(f'"{database["USER"]}" ""\n')
        ini = directory / f"pgbouncer-{port}.ini"
        with ini.open("w") as handle:
            config.write(handle)
        for path in directory.iterdir():
            path.chmod(0o644)
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        process = subprocess.Popen([PGBOUNCER, *user, str(ini)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        processes.append(process)
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(_url(port), connect_timeout=2).close()
                return port
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError("PgBouncer did not start: "
                                       + process.communicate()[1].decode()[-2000:]) from None
                time.sleep(0.1)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)
    shutil.rmtree(directory, ignore_errors=True)


def _url(port: int) -> str:
    database = connection.settings_dict
    return f"postgres://{database['USER']}@127.0.0.1:{port}/{database['NAME']}"


def _search_path(conn: psycopg.Connection) -> str:
    row = conn.execute("SHOW search_path").fetchone()
    assert row is not None
    return str(row[0])


APP_SCRIPT = """
import json
from django.db import connection
from django_tenants.utils import schema_context
from apps.events.models import OutboxMessage
from apps.tenancy.models import Tenant

def search_path():
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]

seen = []
for slug in ("test_alpha", "test_beta", "test_alpha"):
    with schema_context(slug):
        OutboxMessage.objects.count()
        seen.append(search_path())
print(json.dumps({"tenants": sorted(Tenant.objects.values_list("schema_name", flat=True)),
                  "seen": seen, "public": search_path()}))
"""


def test_the_platform_runs_through_pgbouncer_in_session_mode(start_pgbouncer, tenant_a, tenant_b):
    port = start_pgbouncer()
    assert _shipped_config()["pgbouncer"]["pool_mode"] == "session"
    env = {**os.environ, "DATABASE_URL": _url(port), "LOG_LEVEL": "WARNING"}

    # django-tenants' standard executor: Django's whole migrate path through PgBouncer, not
    # only the history query with which ours skips an up-to-date schema.
    migrate = subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--shared",
                              "--executor", "standard"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    assert "No migrations to apply" in migrate.stdout

    run = subprocess.run([sys.executable, "manage.py", "shell", "-c", APP_SCRIPT], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert {tenant_a.schema_name, tenant_b.schema_name} <= set(result["tenants"])
    assert result["seen"] == ["test_alpha, public", "test_beta, public", "test_alpha, public"]
    assert result["public"] == "public"


def test_session_mode_resets_a_server_connection_before_the_next_client(start_pgbouncer, db):
    port = start_pgbouncer(pool_size=1)  # one server connection: every client gets it
    with psycopg.connect(_url(port), autocommit=True) as first:
        first.execute("SET search_path TO test_alpha, public")
        assert _search_path(first) == "test_alpha, public"
    with psycopg.connect(_url(port), autocommit=True) as second:
        assert _search_path(second) == DEFAULT_SEARCH_PATH


def test_transaction_mode_hands_one_tenants_search_path_to_another_client(start_pgbouncer, db):
    """Why not transaction pooling: django-tenants sets search_path once per connection
    (and in its own statement), so the server connection carries it to other clients."""
    port = start_pgbouncer(pool_mode="transaction", pool_size=1)
    with psycopg.connect(_url(port), autocommit=True) as tenant_client, \
            psycopg.connect(_url(port), autocommit=True) as other_client:
        tenant_client.execute("SET search_path TO test_alpha, public")
        assert _search_path(other_client) == "test_alpha, public"  # leaked
        # Set per transaction, with SET LOCAL, it ends with the transaction.
        other_client.execute("SET search_path TO DEFAULT")
        with tenant_client.transaction():
            tenant_client.execute("SET LOCAL search_path TO test_beta, public")
            assert _search_path(tenant_client) == "test_beta, public"
        assert _search_path(other_client) == DEFAULT_SEARCH_PATH
