"""Starting and stopping the reference sources, in-process and from the command line."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from devtools.reference import ReferenceSources, Sizes, start_reference_sources
from devtools.reference.__main__ import READY_LINE

SMALL = Sizes(customers=3, products=3, invoices=3)
REPO = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    """Ports free a moment ago; another process may take one before we bind it."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_on_given_ports(attempts: int = 5) -> tuple[ReferenceSources, list[int]]:
    """Start on ports named in advance. Between freeing a port and binding it another
    process on a busy machine may take it: then the start fails with "in use", and a
    fresh set of ports is tried, instead of the test failing for the machine's sake."""
    for attempt in range(attempts):
        ports = free_ports(3)
        try:
            return start_reference_sources(seed=1, sizes=SMALL, ports=dict(
                zip(("directus", "products", "ecommerce"), ports, strict=True))), ports
        except OSError as exc:
            if "in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def test_given_ports_are_used_and_stop_closes_open_connections():
    sources, (directus_port, products_port, ecommerce_port) = start_on_given_ports()
    session = requests.Session()
    try:
        assert sources.directus_url == f"http://127.0.0.1:{directus_port}"
        assert sources.products_url == f"http://127.0.0.1:{products_port}"
        assert sources.ecommerce_url == f"http://127.0.0.1:{ecommerce_port}"
        ping = session.get(f"{sources.directus_url}/server/ping", timeout=5)
        assert ping.text == "pong"
    finally:
        sources.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{sources.directus_url}/server/ping", timeout=5)


def test_a_taken_port_fails_the_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            start_reference_sources(sizes=SMALL, ports={"ecommerce": taken.getsockname()[1]})


def test_unknown_source_names_are_refused():
    with pytest.raises(ValueError, match="unknown source"):
        start_reference_sources(sizes=SMALL, ports={"shopify": 1})


def read_until_ready(process: subprocess.Popen[str], limit_s: float = 60) -> list[str]:
    """The banner up to the command's readiness line: only then are its signal handlers in.

    A command that never gets ready is killed after ``limit_s``, which ends the read.
    """
    assert process.stdout is not None
    watchdog = threading.Timer(limit_s, process.kill)
    watchdog.start()
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.strip() == READY_LINE:
                return lines
    finally:
        watchdog.cancel()
    raise AssertionError(f"the command was not ready within {limit_s}s; it printed {lines}")


def _url_in(banner: list[str], label: str) -> str:
    [line] = [line for line in banner if line.startswith(label)]
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    return match.group(0)


def test_the_command_runs_until_interrupted():
    # Port 0: the command binds free ports itself and prints them, so no port can be taken
    # between our choosing it and the child binding it.
    with subprocess.Popen(
            [sys.executable, "-m", "devtools.reference", "--seed", "7", "--customers", "5",
             "--products", "5", "--invoices", "5", "--directus-port", "0",
             "--products-port", "0", "--ecommerce-port", "0"],
            cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            banner = read_until_ready(process)
            products_url = _url_in(banner, "Products")
            assert "ref-products-key-1" in banner[2]
            assert len({_url_in(banner, label) for label in
                        ("Directus", "Products", "E-commerce")}) == 3
            response = requests.get(f"{products_url}/v1/products",
                                    headers={"X-API-Key": "ref-products-key-1"}, timeout=5)
            assert response.json()["total"] == 5
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            assert "stopped" in process.stdout.read()
        finally:
            process.kill()


def test_an_interrupt_during_the_banner_stops_the_command_cleanly():
    with subprocess.Popen(
            [sys.executable, "-m", "devtools.reference", "--customers", "5",
             "--products", "5", "--invoices", "5", "--directus-port", "0",
             "--products-port", "0", "--ecommerce-port", "0"],
            cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            watchdog = threading.Timer(60, process.kill)  # a command that never prints
            watchdog.start()
            first_line = process.stdout.readline()
            watchdog.cancel()
            assert first_line.startswith("Reference sources (seed")
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            assert "stopped" in process.stdout.read()
        finally:
            process.kill()
