"""A PostgreSQL primary and its streaming replica, made for a test in a temporary directory.

The machine's own server (DATABASE_URL) accepts no replication connections, so the tests
of replica routing start a pair of their own with the PostgreSQL 15 binaries
(``PG_BIN``, default ``/usr/lib/postgresql/15/bin``): ``initdb`` a primary, then
``pg_basebackup -R`` a hot standby from it, each on a free port of 127.0.0.1 with its
socket in the temporary directory. initdb refuses to run as root, so as root every
command runs as the ``postgres`` user (``runuser``), which owns the directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"
# Generous: CI runs with both cores busy.
START_TIMEOUT_SECONDS = 120
CATCH_UP_TIMEOUT_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    result = subprocess.run(_as_server_user(command), capture_output=True, text=True,
                            check=False, timeout=START_TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")


@dataclass
class Server:
    name: str
    data_dir: Path
    port: int
    running: bool = field(default=False)

    def url(self, database: str) -> str:
        return f"postgres://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SERVER_USER,
                               dbname=database, autocommit=True, connect_timeout=5)

    def start(self) -> None:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l",
              str(self.data_dir.parent / f"{self.name}.log"), "-w",
              "-t", str(START_TIMEOUT_SECONDS), "start"])
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])
            self.running = False


@dataclass
class ReplicatedCluster:
    root: Path
    primary: Server
    replica: Server

    def wait_for_replica(self) -> None:
        """Return once the replica has replayed everything the primary has written so far."""
        with self.primary.connect() as primary:
            # The insert position, not pg_current_wal_lsn() (what is written out so far): with
            # synchronous_commit off a commit returns before its WAL record is written, and a
            # wait on the written position would miss the transaction that just committed.
            target = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_SECONDS
        with self.replica.connect() as replica:
            while True:
                caught_up = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()
                if caught_up and caught_up[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replica did not reach {target} in "
                                       f"{CATCH_UP_TIMEOUT_SECONDS} s")
                time.sleep(0.05)

    def pause_replay(self) -> None:
        """Stop applying WAL on the replica: it serves what it had, like a lagging one."""
        with self.replica.connect() as replica:
            replica.execute("SELECT pg_wal_replay_pause()")
            # The call only requests the pause; replay stops at its next record boundary.
            deadline = time.monotonic() + CATCH_UP_TIMEOUT_SECONDS
            while replica.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() \
                    != ("paused",):
                if time.monotonic() > deadline:
                    raise TimeoutError("the replica did not pause its replay")
                time.sleep(0.05)

    def resume_replay(self) -> None:
        with self.replica.connect() as replica:
            replica.execute("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        for server in (self.replica, self.primary):
            # One already gone: the directory is removed all the same.
            with contextlib.suppress(RuntimeError):
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


_SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
wal_level = replica
max_wal_senders = 4
hot_standby = on
# A throwaway test cluster: durability buys nothing here and costs seconds per migration.
fsync = off
synchronous_commit = off
# ... so commits reach the replica when the WAL writer wakes: often, to keep waits short.
wal_writer_delay = 10ms
full_page_writes = off
"""


def start_replicated_cluster() -> ReplicatedCluster:
    """A running primary and a hot standby streaming from it (stop() removes both)."""
    for tool in ("initdb", "pg_ctl", "pg_basebackup"):
        if not (PG_BIN / tool).exists():
            raise RuntimeError(f"{PG_BIN / tool} is missing: install PostgreSQL 15's server "
                               "binaries (Debian: postgresql-15) or set PG_BIN")
    root = Path(tempfile.mkdtemp(prefix="dictamesh-pg-"))
    if os.geteuid() == 0:
        server_user = pwd.getpwnam(SERVER_USER)
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
    cluster = ReplicatedCluster(root, Server("primary", root / "primary", _free_port()),
                                Server("replica", root / "replica", _free_port()))
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(cluster.primary.data_dir), "-U", SERVER_USER,
              "--auth=trust", "--encoding=UTF8", "--no-sync"])
        _append_settings(cluster.primary, root)
        cluster.primary.start()
        # -R writes standby.signal and primary_conninfo: the copy starts as a hot standby.
        _run([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1",
              "-p", str(cluster.primary.port), "-U", SERVER_USER,
              "-D", str(cluster.replica.data_dir), "-R", "-X", "stream", "--checkpoint=fast",
              "--no-sync"])
        _append_settings(cluster.replica, root)  # later lines win: the replica's own port
        cluster.replica.start()
        cluster.wait_for_replica()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _append_settings(server: Server, socket_dir: Path) -> None:
    text = _SERVER_SETTINGS.format(port=server.port, socket_dir=socket_dir)
    conf = server.data_dir / "postgresql.conf"
    # Written by root or postgres alike; the file stays postgres' (appending keeps owner).
    with conf.open("a") as handle:
        handle.write(text)
