"""What the registry's services return: plain frozen values, no models, no Django."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LATEST: Literal["latest"] = "latest"
Version = int | Literal["latest"]


@dataclass(frozen=True)
class SchemaReference:
    """A named type (``name``, full) that a schema takes from version ``version`` of
    ``subject``: Confluent's schema reference."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class RegisteredSchema:
    id: int
    schema: str
    schema_type: str
    references: tuple[SchemaReference, ...] = ()


@dataclass(frozen=True)
class SubjectSchema:
    subject: str
    version: int
    id: int
    schema: str
    schema_type: str
    references: tuple[SchemaReference, ...] = ()


@dataclass(frozen=True)
class SubjectVersionRef:
    subject: str
    version: int
