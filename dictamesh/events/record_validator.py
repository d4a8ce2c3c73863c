"""Does a Python value fit an Avro schema? Checked before fastavro writes a record.

fastavro's writer silently writes ``1.5`` into an int field or the characters of ``"abc"``
into an array; the compiled validator here refuses them first, naming the field path
(``Mismatch``), so that a producer learns of its bug instead of its consumers.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from dictamesh.events import PRIMITIVE_TYPES, strip_wrappers
from dictamesh.events.schema_compiler import SchemaCompiler

Validator = Callable[[Any], None]


class Mismatch(Exception):
    """A value that does not fit; ``path`` grows as the error unwinds out of containers."""

    def __init__(self, problem: str, path: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = [path] if path else []

    def __str__(self) -> str:
        where = "".join(self.path).lstrip(".")
        return f"field '{where}' {self.problem}" if where else self.problem


def _got(value: Any) -> str:
    return f"got {type(value).__name__} {value!r:.60}"


def _int_check(low: int, high: int, avro: str) -> Validator:
    def check(value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise Mismatch(f"expects {avro}, {_got(value)}")

    return check


def _type_check(types: Any, avro: str) -> Validator:
    def check(value: Any) -> None:
        if not isinstance(value, types):
            raise Mismatch(f"expects {avro}, {_got(value)}")

    return check


def _number_check(avro: str) -> Validator:
    def check(value: Any) -> None:
        # bool is an int subclass, but True is no number in Avro (nor in fastavro's checks).
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Mismatch(f"expects {avro}, {_got(value)}")

    return check


def _check_null(value: Any) -> None:
    if value is not None:
        raise Mismatch(f"expects null, {_got(value)}")


_PRIMITIVE_VALIDATORS: dict[str, Validator] = {
    "null": _check_null,
    "boolean": _type_check(bool, "boolean"),
    "int": _int_check(-(2**31), 2**31 - 1, "int (32-bit)"),
    "long": _int_check(-(2**63), 2**63 - 1, "long (64-bit)"),
    "float": _number_check("float"),
    "double": _number_check("double"),
    "bytes": _type_check(bytes | bytearray, "bytes"),
    "string": _type_check(str, "string"),
}

# The exact Python types (not subclasses) each Avro type takes.
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "int": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "bytes": (bytes, bytearray),
    "string": (str,),
    "enum": (str,),
    "fixed": (bytes, bytearray),
    "array": (list, tuple),
    "map": (dict,),
    "record": (dict,),
    "error": (dict,),
}

# Python values fastavro's logical writers convert, besides those of the underlying type.
LOGICAL_TYPES: dict[str, type] = {
    "timestamp-millis": datetime.datetime,
    "timestamp-micros": datetime.datetime,
    "timestamp-nanos": datetime.datetime,
    "local-timestamp-millis": datetime.datetime,
    "local-timestamp-micros": datetime.datetime,
    "local-timestamp-nanos": datetime.datetime,
    "date": datetime.date,
    "time-millis": datetime.time,
    "time-micros": datetime.time,
    "uuid": uuid.UUID,
    "decimal": decimal.Decimal,
}


class _Validators(SchemaCompiler[Validator]):
    def compile(self, node: Any) -> Validator:
        check = super().compile(node)
        logical = isinstance(node, dict) and LOGICAL_TYPES.get(node.get("logicalType", ""))
        if not logical:
            return check

        def either(value: Any) -> None:
            if not isinstance(value, logical):
                check(value)

        return either

    def primitive(self, name: str) -> Validator:
        return _PRIMITIVE_VALIDATORS[name]

    def forward(self, name: str, done: dict[str, Validator]) -> Validator:
        return lambda value: done[name](value)

    def record(self, node: dict[str, Any]) -> Validator:
        fields = [(f["name"], "default" in f, self.compile(f["type"])) for f in node["fields"]]
        names = frozenset(name for name, _, _ in fields)
        record = node["name"].rpartition(".")[2]

        def check(value: Any) -> None:
            if type(value) is not dict and not isinstance(value, Mapping):  # dict: fast
                raise Mismatch(f"expects record {record} (a mapping), {_got(value)}")
            for name, has_default, field in fields:
                if name in value:
                    try:
                        field(value[name])
                    except Mismatch as exc:
                        exc.path.insert(0, f".{name}")
                        raise
                elif not has_default:
                    raise Mismatch("is required and has no default", f".{name}")
            if not names.issuperset(value):
                unknown = next(key for key in value if key not in names)
                raise Mismatch(f"is not in record {record}", f".{unknown}")

        return check

    error = record

    def enum(self, node: dict[str, Any]) -> Validator:
        symbols = frozenset(node["symbols"])

        def check(value: Any) -> None:
            if not isinstance(value, str) or value not in symbols:
                raise Mismatch(f"expects one of {sorted(symbols)}, {_got(value)}")

        return check

    def fixed(self, node: dict[str, Any]) -> Validator:
        size = node["size"]

        def check(value: Any) -> None:
            if not isinstance(value, bytes | bytearray) or len(value) != size:
                raise Mismatch(f"expects {size} bytes (fixed {node['name']}), {_got(value)}")

        return check

    def array(self, node: dict[str, Any]) -> Validator:
        item = self.compile(node["items"])

        def check(value: Any) -> None:
            if not isinstance(value, list | tuple):
                raise Mismatch(f"expects an array (a list), {_got(value)}")
            for index, element in enumerate(value):
                try:
                    item(element)
                except Mismatch as exc:
                    exc.path.insert(0, f"[{index}]")
                    raise

        return check

    def map(self, node: dict[str, Any]) -> Validator:
        item = self.compile(node["values"])

        def check(value: Any) -> None:
            if not isinstance(value, Mapping):
                raise Mismatch(f"expects a map (a dict), {_got(value)}")
            for key, element in value.items():
                if not isinstance(key, str):
                    raise Mismatch(f"expects string map keys, {_got(key)}")
                try:
                    item(element)
                except Mismatch as exc:
                    exc.path.insert(0, f"[{key!r}]")
                    raise

        return check

    def union(self, branches: list[Any]) -> Validator:
        checks = [self.compile(branch) for branch in branches]
        described = [_describe(branch) for branch in branches]
        # Try only the branches that take the value's Python type: failing into the next
        # branch costs an exception, too slow for every optional field of every record.
        by_type: dict[type, list[Validator]] = {}
        for branch, branch_check in zip(branches, checks, strict=True):
            for python_type in self._python_types(branch):
                by_type.setdefault(python_type, []).append(branch_check)
        # The usual optional field: a mismatch inside its one non-null type says more.
        non_null = [c for b, c in zip(branches, checks, strict=True) if _describe(b) != "null"]

        def check(value: Any) -> None:
            for branch in by_type.get(type(value), checks):  # a subclass: try them all
                try:
                    branch(value)
                except Mismatch:
                    continue
                return
            if value is not None and len(non_null) == 1:
                non_null[0](value)  # raises its own, more precise, mismatch
            raise Mismatch(f"expects one of {described}, {_got(value)}")

        return check

    def _python_types(self, branch: Any) -> tuple[type, ...]:
        logical = isinstance(branch, dict) and LOGICAL_TYPES.get(branch.get("logicalType", ""))
        node = strip_wrappers(branch)
        if isinstance(node, str) and node not in PRIMITIVE_TYPES:
            node = self._named[node]
        kind = node if isinstance(node, str) else node["type"]
        return _PYTHON_TYPES[kind] + ((logical,) if logical else ())


def _describe(node: Any) -> str:
    node = strip_wrappers(node)
    if isinstance(node, dict):
        return str(node.get("name", node["type"]))
    return "union" if isinstance(node, list) else str(node)


def compile_validator(parsed: Any, named: dict[str, Any]) -> Validator:
    """The validator of a parsed schema (``compatibility.parse``); raises ``Mismatch``."""
    return _Validators(named).compile(parsed)
