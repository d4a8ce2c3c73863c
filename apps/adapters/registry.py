"""Finding adapter classes: dotted paths in settings, plus the `dictamesh.adapters` entry
point group for third-party packages. Adding a source type changes nothing in core."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from django.conf import settings
from django.utils.module_loading import import_string

from apps.adapters.base import DataProductAdapter, SourceConfig

ENTRY_POINT_GROUP = "dictamesh.adapters"


class AdapterNotFound(LookupError):
    pass


def _check(cls: object, origin: str) -> type[DataProductAdapter]:
    if not (isinstance(cls, type) and issubclass(cls, DataProductAdapter)):
        raise TypeError(f"{origin} is not a DataProductAdapter subclass.")
    return cls


@cache
def adapter_classes() -> dict[str, type[DataProductAdapter]]:
    """Every known adapter class by its registry key (settings first, then entry points)."""
    found: dict[str, type[DataProductAdapter]] = {}
    for path in settings.DICTAMESH_ADAPTERS:
        cls = _check(import_string(path), path)
        found.setdefault(cls.name, cls)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        cls = _check(entry_point.load(), f"entry point {entry_point.value}")
        found.setdefault(cls.name, cls)
    return found


def get_adapter_class(name: str) -> type[DataProductAdapter]:
    """The code adapter ``name``, else the current tenant's source description ``name``."""
    from apps.adapters.declarative.store import declared_adapter_class

    found = adapter_classes().get(name) or declared_adapter_class(name)
    if found is None:
        known = ", ".join(adapter_names()) or "none"
        raise AdapterNotFound(
            f"No adapter {name!r} (known: {known}). Describe the source (Adapters → Source "
            "descriptions), add its class to DICTAMESH_ADAPTERS or install a package that "
            f"registers it under the {ENTRY_POINT_GROUP!r} entry point group.")
    return found


def adapter_names() -> list[str]:
    """The code adapters' names and the current tenant's source descriptions', sorted."""
    from apps.adapters.declarative.store import declared_names

    return sorted({*adapter_classes(), *declared_names()})


def build_adapter(name: str, config: SourceConfig) -> DataProductAdapter:
    return get_adapter_class(name)(config)
