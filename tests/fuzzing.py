"""What the Schemathesis fuzz tests share (tests/schema_registry/test_fuzz.py,
tests/federation/test_fuzz.py): Django's WSGI application as the target, the bounded
example count, and the check that no answer is a server error.

Schemathesis generates valid and invalid requests (wrong types, missing fields, odd
strings in paths and queries) per operation; FUZZ_EXAMPLES bounds how many, so the run
fits the test suite in CI (raise it locally for a longer hunt).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
APP = WSGIHandler()
# Derandomized: CI runs the same examples every time (a failure reproduces); function-
# scoped fixtures are fine here since every example only reads or adds rows.
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@contextmanager
def connection_kept() -> Iterator[None]:
    """The WSGI handler closes the database connection as a request starts and ends; the
    test's transaction lives on it (Django's test client disconnects the same signals)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
