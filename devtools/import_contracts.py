"""An import-linter contract type for the house rule "apps talk through their doors".

import-linter's built-in `protected` contract names the modules to protect; we want the
opposite: everything in an app is private except a few named door modules, so that a module
added tomorrow is private without anyone remembering to list it.
"""

from __future__ import annotations

from dataclasses import dataclass

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


@dataclass(frozen=True)
class _Breach:
    importer: str
    imported: str
    line_numbers: tuple[int, ...]


class PublicDoorsContract(Contract):
    """Only an app's door modules may be imported from outside that app.

    Options:
        apps:  the app packages (a nested app listed here is its own app).
        doors: the module names, relative to each app, that others may import.
    """

    type_name = "public_doors"

    apps = fields.ListField(subfield=fields.ModuleField())
    doors = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        app_names = sorted((module.name for module in self.apps), key=len, reverse=True)  # type: ignore[attr-defined]
        breaches = [
            breach
            for app in app_names
            for breach in self._breaches_of(graph, app, app_names)
        ]
        return ContractCheck(kept=not breaches, metadata={"breaches": breaches})

    def _breaches_of(self, graph: ImportGraph, app: str, app_names: list[str]) -> list[_Breach]:
        doors = {f"{app}.{door}" for door in self.doors}  # type: ignore[attr-defined]
        nested = [other for other in app_names if other.startswith(f"{app}.")]
        private = {
            module
            for module in graph.find_descendants(app)
            if not _within(module, doors) and not _within(module, nested)
        }
        breaches = []
        for imported in sorted(private):
            for importer in sorted(graph.find_modules_that_directly_import(imported)):
                if _owner(importer, app_names) == app:
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                lines = tuple(detail["line_number"] for detail in details)
                breaches.append(_Breach(importer, imported, lines))
        return breaches

    def render_broken_contract(self, check: ContractCheck) -> None:
        for breach in check.metadata["breaches"]:
            lines = ", ".join(map(str, breach.line_numbers))
            output.print_error(f"- {breach.importer} -> {breach.imported} (l.{lines})", bold=False)
        output.new_line()
        output.print(
            "Import what you need from the app's "
            + ", ".join(f"`{door}`" for door in self.doors)  # type: ignore[attr-defined]
            + "; if it is not there, add a function or contract to that door."
        )


def _within(module: str, packages: set[str] | list[str]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def _owner(module: str, app_names: list[str]) -> str | None:
    """The innermost listed app a module belongs to (app_names is sorted longest first)."""
    return next((app for app in app_names if _within(module, [app])), None)
