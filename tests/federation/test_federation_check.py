"""The subgraphs compose with both Apollo's and The Guild's composers, and a query that
spans three subgraphs answers the same through @apollo/gateway as through /graphql.

devtools/federation-check holds the Node script and its pinned packages; its node_modules
are installed once per package-lock into .run/ (`npm ci`), so a rerun costs the script
alone. Without npm this test fails: the composition check is part of the suite.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.federation.conftest import Api
from tests.federation.expected import CUSTOMERS

PACKAGE = Path(__file__).resolve().parents[2] / "devtools" / "federation-check"
FILES = ("package.json", "package-lock.json", "check.mjs", "subscribe.mjs")
INSTALL_SECONDS = 600
CHECK_SECONDS = 120


def _installed() -> Path:
    """A copy of the package with its node_modules, reinstalled when its lock changes."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm are needed for the federation composition check: install "
                    "Node.js 20+ with npm and put them on PATH (devtools/federation-check).")
    lock = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()[:16]
    home = Path(".run") / "federation-check" / lock
    if not (home / "node_modules" / ".installed").exists():
        home.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copy(PACKAGE / name, home / name)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts",
                               "--cache", str(Path(".run") / "npm-cache")],
                              cwd=home, capture_output=True, text=True,
                              timeout=INSTALL_SECONDS, check=False)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
        (home / "node_modules" / ".installed").touch()
    for script in ("check.mjs", "subscribe.mjs"):  # the scripts may change alone
        shutil.copy(PACKAGE / script, home / script)
    return home


def _check(home: Path, *arguments: str) -> dict:
    done = subprocess.run(["node", "check.mjs", *arguments], cwd=home, capture_output=True,
                          text=True, timeout=CHECK_SECONDS, check=False)
    lines = done.stdout.strip().splitlines()
    assert lines, f"the check printed nothing:\n{done.stderr}"
    report = json.loads(lines[-1])
    assert done.returncode == (0 if report["ok"] else 1), done.stderr
    return report


def test_subgraphs_compose_and_the_gateway_answers_like_graphql(
        api_committed: Api, live_server, tmp_path: Path):
    home = _installed()
    call_command("export_graphql_schema", "--out", str(tmp_path))
    ids = ["1", "2", "3"]
    report = _check(home, "--schema-dir", str(tmp_path.resolve()), "--url", live_server.url,
                    "--host", api_committed.host, "--key", api_committed.key,
                    "--ids", ",".join(ids))
    # The gateway's answer equals ours (the check compares them) and the source's data.
    assert report == {"ok": True, "composed": ["customers", "products", "invoices", "catalog",
                                               "sagas"],
                      "customers": [CUSTOMERS[i]["email"] for i in ids]}, report


def test_a_subgraph_on_a_version_the_guild_refuses_fails_the_check(tmp_path: Path):
    """The check can fail: v2.11, which Apollo composes, is refused by The Guild."""
    home = _installed()
    call_command("export_graphql_schema", "--out", str(tmp_path))
    for sdl in tmp_path.glob("*.graphql"):
        sdl.write_text(sdl.read_text("utf-8").replace("federation/v2.9", "federation/v2.11"),
                       "utf-8")
    report = _check(home, "--schema-dir", str(tmp_path.resolve()))
    assert report["ok"] is False
    assert report["stage"] == "guild-composition"
    assert "v2.11" in report["detail"][0]
