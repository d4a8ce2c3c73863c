"""Source sessions: every call has a timeout, the User-Agent says who we are, no hidden
retries."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from requests.adapters import HTTPAdapter

from dictamesh.resilience import build_session, parse_retry_after
from dictamesh.resilience.http import USER_AGENT
from tests.resilience.conftest import Reply


def test_every_call_gets_the_default_timeouts(server):
    session = build_session(connect_timeout=1, read_timeout=0.2)
    held = threading.Event()
    # The server answers only when released: a call without a read timeout would wait for
    # the release, so a ReadTimeout proves the default applied, with no clock to read.
    server.answer(Reply(hold=held))
    for call in (lambda: session.get(server.url),
                 lambda: session.get(server.url, timeout=None),  # None may not mean forever
                 lambda: session.request("GET", server.url, None, None, None, None, None, None,
                                         None)):
        with pytest.raises(requests.ReadTimeout):
            call()
    # an explicit timeout still wins
    held.set()
    server.answer(Reply(delay_s=0.6))
    assert session.get(server.url, timeout=30).status_code == 200


def test_user_agent_names_dictamesh_and_its_version(server):
    build_session().get(server.url)
    assert server.received[-1].headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("DictaMesh/")
    assert USER_AGENT != "DictaMesh/"


def test_urllib3_does_not_retry(server):
    session = build_session(pool_size=7)
    adapter = session.get_adapter("http://example.invalid")
    assert isinstance(adapter, HTTPAdapter)
    assert adapter.max_retries.total == 0
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 7
    server.answer(Reply(status=503))
    assert session.get(server.url).status_code == 503
    assert server.count == 1

    # A connection dropped without an answer is not retried either: one connection, one error.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepted: list[socket.socket] = []

        def hang_up() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:  # the listener was closed: the test is over
                    return
                accepted.append(conn)
                conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        with pytest.raises(requests.ConnectionError):
            session.get(f"http://127.0.0.1:{listener.getsockname()[1]}/")
        assert len(accepted) == 1


def test_timeouts_must_be_positive():
    with pytest.raises(ValueError, match="never wait forever"):
        build_session(read_timeout=0)


@pytest.mark.parametrize(("header", "expected"), [
    ("1", 1.0), ("2.5", 2.5), (" 7 ", 7.0), ("-3", 0.0), ("", None), (None, None),
    ("soon", None), ("nan", None),
])
def test_parse_retry_after_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(90)
