"""Resident memory of each process role, the figures deploy/k8s's requests and limits follow.

Starts web (gunicorn, WEB_CONCURRENCY workers), the worker (Celery with its outbox relay and
catalog consumer group) and beat as the image does, sends web a few hundred requests
(/readyz, a GraphQL query, /metrics), lets the worker's consumers run, then reads each
process tree's memory: RSS (what `top` shows; a forked child's shared pages are counted
once per process) and PSS (shared pages split between the processes sharing them; their
sum is close to the container's working set). Baseline, same run: a bare Python process
with the settings loaded (`django.setup()`).

    .venv/bin/python bench/bench_process_memory.py [--web-workers 2] [--worker-concurrency 2]

Uses DATABASE_URL (migrated: `manage.py migrate_schemas --shared`), REDIS_URL and the broker
at KAFKA_BOOTSTRAP_SERVERS (starting a development one if none answers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SETTLE_SECONDS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [pid] + [q for c in children.stdout.split() for q in tree(int(c))]


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return fields["Rss"], fields["Pss"]


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def request(url: str, body: bytes | None = None) -> None:
    headers = {"Content-Type": "application/json"} if body else {}
    # /readyz may answer 503 on a machine without every dependency: still served.
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers),
                               timeout=30).close()


def report(name: str, pid: int, baseline_pss: int) -> None:
    pids = tree(pid)
    figures = [memory_kib(p) for p in pids]
    rss, pss = sum(f[0] for f in figures), sum(f[1] for f in figures)
    per_process = ", ".join(f"{r / 1024:.0f}" for r, _ in figures)
    print(f"{name:<8} processes={len(pids)}  RSS {rss / 1024:6.0f} MiB ({per_process})  "
          f"PSS {pss / 1024:6.0f} MiB  PSS/baseline {pss / baseline_pss:4.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from devtools.broker import ensure as ensure_broker

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    ensure_broker(bootstrap)
    web_port, metrics_port = free_port(), free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING",
           "GUNICORN_BIND": f"127.0.0.1:{web_port}", "WEB_CONCURRENCY": str(args.web_workers),
           "PROMETHEUS_MULTIPROC_DIR": f"/tmp/bench-memory-{web_port}",
           "WORKER_METRICS_PORT": str(metrics_port)}
    commands = {
        "baseline": [sys.executable, "-c",
                     "import django, time; django.setup(); print('ready', flush=True); "
                     "time.sleep(3600)"],
        "web": [str(BIN / "gunicorn"), "-c", "python:config.gunicorn", "config.wsgi:application"],
        "worker": [str(BIN / "celery"), "-A", "config", "--quiet", "worker", "--loglevel",
                   "WARNING", "--concurrency", str(args.worker_concurrency)],
        "beat": [str(BIN / "celery"), "-A", "config", "--quiet", "beat", "--loglevel",
                 "WARNING", "--schedule", f"/tmp/bench-memory-beat-{web_port}"],
    }
    processes = {name: subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                 for name, command in commands.items()}
    try:
        wait_for(f"http://127.0.0.1:{web_port}/healthz", processes["web"])
        wait_for(f"http://127.0.0.1:{metrics_port}/metrics", processes["worker"])
        base = f"http://127.0.0.1:{web_port}"
        for _ in range(args.requests):
            request(f"{base}/readyz")
            request(f"{base}/graphql", b'{"query": "{ __typename }"}')
            request(f"{base}/metrics")
        time.sleep(SETTLE_SECONDS)  # the worker's relay and consumers run meanwhile
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")
        baseline_pss = memory_kib(processes["baseline"].pid)[1]
        print(f"web workers={args.web_workers}, worker concurrency={args.worker_concurrency}, "
              f"{3 * args.requests} requests to web")
        for name, process in processes.items():
            report(name, process.pid, baseline_pss)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
