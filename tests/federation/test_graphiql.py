"""GraphiQL is served from vendored, pinned static files: no CDN, so it works offline."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import requests
from django.contrib.staticfiles import finders
from django.templatetags.static import static

from tests.federation.conftest import Api

VENDORED = Path(__file__).resolve().parents[2] / "apps/federation/static/federation/graphiql"


def _pinned() -> dict[str, str]:
    """File name -> sha256, from VERSIONS.txt (sha256sum's format)."""
    lines = (VENDORED / "VERSIONS.txt").read_text("utf-8").splitlines()
    return {name: digest for digest, name in
            (line.split("  ") for line in lines if re.fullmatch(r"[0-9a-f]{64}  \S+", line))}


def _page_assets(api: Api) -> list[str]:
    page = api.client.get("/graphql", HTTP_HOST=api.host, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    return re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())


def test_the_page_loads_only_vendored_files_that_match_their_pins(api: Api, settings):
    settings.GRAPHQL_GRAPHIQL = True
    assets = _page_assets(api)
    assert len(assets) == 5  # the stylesheet, React, ReactDOM, GraphiQL, start.js
    pinned = _pinned()
    assert set(pinned) == {"graphiql.min.js", "graphiql.min.css", "react.production.min.js",
                           "react-dom.production.min.js"}
    for url in assets:
        assert url.startswith(static("federation/graphiql/")), url  # no CDN, no other host
        name = url.rsplit("/", 1)[1]
        found = finders.find(f"federation/graphiql/{name}")
        assert found, f"{url} is not a static file"
        if name in pinned:
            assert hashlib.sha256(Path(found).read_bytes()).hexdigest() == pinned[name], name
    assert {url.rsplit("/", 1)[1] for url in assets} == {*pinned, "start.js"}


def test_without_graphiql_a_browser_gets_the_json_refusal(api: Api, settings):
    settings.GRAPHQL_GRAPHIQL = False
    response = api.client.get("/graphql", HTTP_HOST=api.host, HTTP_ACCEPT="text/html",
                              HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_the_vendored_files_are_served_over_http(live_server):
    for name, digest in _pinned().items():
        response = requests.get(live_server.url + static(f"federation/graphiql/{name}"),
                                timeout=30)
        assert response.status_code == 200, name
        assert hashlib.sha256(response.content).hexdigest() == digest, name
