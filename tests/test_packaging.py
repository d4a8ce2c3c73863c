"""The product ships without its development tooling.

What the wheel holds comes from setuptools' package discovery as configured in
`pyproject.toml` (read here by setuptools itself, as a build does); the image installs that
wheel from the directories the Dockerfile copies. Neither may carry `devtools/` (the local
stack, the broker launcher, the reference servers), the tests or the benchmarks, and no
shipped module may import `devtools`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = ("devtools", "tests", "bench")
DEV_COMMANDS = ("connect_reference_sources", "ensure_dev_superuser")
IMPORTS_DEVTOOLS = re.compile(r"^\s*(from|import)\s+devtools\b", re.MULTILINE)


@pytest.fixture(scope="module")
def shipped_modules(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Path]:
    """Every Python module the wheel would hold, by dotted name."""
    monkeypatch_module.chdir(ROOT)  # the configuration's paths are relative to the root
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "[tool.setuptools] support is beta"
        distribution = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    modules = {}
    for package in distribution.packages or []:
        for path in (ROOT / package.replace(".", "/")).glob("*.py"):
            modules[f"{package}.{path.stem}"] = path
    return modules


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_product_packages_are_shipped(shipped_modules):
    for module in ("dictamesh.events.codec", "apps.adapters.services",
                   "apps.tenancy.services", "apps.tenancy.management.commands.onboard_tenant",
                   "config.settings"):
        assert module in shipped_modules


def test_no_development_tooling_is_shipped(shipped_modules):
    dev_only = [name for name in shipped_modules
                if name.split(".")[0] in DEV_ONLY
                or ".devtools." in name or ".reference." in name
                or name.rsplit(".", 1)[-1] in DEV_COMMANDS]
    assert dev_only == []


def test_no_shipped_module_imports_devtools(shipped_modules):
    importing = [name for name, path in shipped_modules.items()
                 if IMPORTS_DEVTOOLS.search(path.read_text(encoding="utf-8"))]
    assert importing == []


def test_the_image_copies_no_development_tooling():
    copied = [line.split()[1:-1] for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY") and "--from=" not in line]
    sources = [source for sources in copied for source in sources]
    assert {"apps", "dictamesh", "config"} <= set(sources)  # the parse found the COPY lines
    assert "." not in sources  # a whole-checkout copy would bring devtools in
    assert not [source for source in sources if source.split("/")[0] in DEV_ONLY]
