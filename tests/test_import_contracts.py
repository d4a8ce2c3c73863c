"""The architecture contracts in pyproject.toml hold, and each one catches what it forbids.

`make lint` runs them with lint-imports; these tests add a deliberate violation to the real
import graph and check that the contract meant to catch it breaks (and only for that).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import grimp
import pytest
from django.utils.module_loading import import_string
from importlinter import Contract
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
BUILT_IN: dict[str, type[Contract]] = {"layers": LayersContract, "forbidden": ForbiddenContract}


@cache
def _configuration() -> dict:
    return read_configuration(str(PYPROJECT))


@cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*_configuration()["session_options"]["root_packages"],
                             cache_dir=None)


def _contracts() -> dict[str, Contract]:
    session = _configuration()["session_options"]
    custom = dict(entry.split(": ") for entry in session.get("contract_types", []))
    contracts = {}
    for options in _configuration()["contracts_options"]:
        kind = options["type"]
        cls = BUILT_IN.get(kind) or import_string(custom[kind])
        contracts[options["name"]] = cls(name=options["name"], session_options=session,
                                         contract_options=options)
    return contracts


def _broken_by(importer: str, imported: str) -> set[str]:
    graph = copy.deepcopy(_graph())
    graph.add_import(importer=importer, imported=imported, line_number=1,
                     line_contents=f"import {imported}")
    return {name for name, contract in _contracts().items()
            if not contract.check(graph, verbose=False).kept}


def _contract_named(fragment: str) -> str:
    (name,) = [name for name in _contracts() if fragment in name]
    return name


def test_the_codebase_keeps_every_contract():
    broken = {name for name, contract in _contracts().items()
              if not contract.check(copy.deepcopy(_graph()), verbose=False).kept}
    assert broken == set()


@pytest.mark.parametrize(("importer", "imported", "contract"), [
    # past a door: another app's models, or a private module behind its services
    ("apps.adapters.changes", "apps.catalog.models", "doors"),
    ("apps.federation.auth", "apps.tenancy.api_keys", "doors"),
    ("apps.catalog.services", "apps.catalog.schema_registry.models", "doors"),
    # upwards through the layers, even through a door
    ("apps.tenancy.services", "apps.events.services", "downwards"),
    ("apps.catalog.ingest", "apps.adapters.services", "downwards"),
    # the core knows no app, and the product no development tooling
    ("dictamesh.cache.tiered", "apps.catalog.services", "core imports no app"),
    ("apps.adapters.services", "devtools.reference", "development tooling"),
])
def test_a_deliberate_violation_breaks_its_contract(importer, imported, contract):
    assert _contract_named(contract) in _broken_by(importer, imported)


def test_a_door_may_be_used_from_another_app():
    assert _broken_by("apps.federation.loaders", "apps.catalog.services") == set()
    assert _broken_by("apps.sagas", "apps.adapters.base") == set()
