"""Paths with characters outside Latin-1 reach the views: the tracing middleware used to
raise UnicodeEncodeError on them (a 500 before any view ran)."""

from __future__ import annotations

from django.conf import settings

from dictamesh.observability.wsgi_path import SAFE_MIDDLEWARE, wsgi_form


def test_the_tracing_middleware_is_the_latin1_safe_one():
    assert settings.MIDDLEWARE[0] == SAFE_MIDDLEWARE


def test_wsgi_form_is_what_a_server_puts_in_path_info():
    assert wsgi_form("/a/€") == "/a/€".encode().decode("latin-1")
    assert wsgi_form("/café") == "/café"  # Latin-1 already: unchanged


def test_paths_outside_latin1_are_answered_not_500(client, db):
    for path in ("/graphql/%E2%82%AC", "/%F0%9F%98%80", "/admin/%E2%82%AC/",
                 "/schema-registry/subjects/%E2%82%AC/versions"):
        response = client.get(path)
        # 404, a login redirect, or the registry asking for credentials: never a 500
        assert response.status_code in {302, 401, 404}, (path, response.status_code)
