"""Avro values in the Confluent wire format: byte 0 is the magic 0, bytes 1-4 the schema id
(big-endian unsigned), then the Avro binary body — what Confluent's serializers write and
read, so standard Kafka tooling understands our topics.

fastavro (C extension) does the encoding and decoding. Around it this module adds what a
consumer of untrusted bytes needs:
- before fastavro reads a body, a compiled scan checks its structure against the writer
  schema: every length, block count, enum and union index must fit in the bytes that are
  there. fastavro alone would read ``-1`` as the *last* enum symbol or union branch, and
  would build a list of 2**60 Nones for a tiny ``array<null>``;
- before fastavro writes a record, a compiled validator checks it, because fastavro's writer
  silently writes ``1.5`` into an int field or the characters of ``"abc"`` into an array;
- schemas are parsed and compiled once per id, and ids looked up once per schema object,
  so the hot path does no JSON work and no resolver call.

Every failure is a :class:`CodecError` whose ``reason`` a consumer can route on (dead-letter
it) — except a resolver that cannot answer (registry down): that error propagates as is,
because the message is fine and the consumer should retry, not dead-letter.
"""

from __future__ import annotations

import datetime
import decimal
import json
import struct
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Generic, Protocol, TypeVar

from fastavro import schemaless_reader, schemaless_writer

from dictamesh.events import PRIMITIVE_TYPES, compatibility, strip_wrappers

MAGIC_BYTE = 0
HEADER = struct.Struct(">BI")  # magic byte, schema id
# A block of items that take no bytes (array<null>, empty records) is bounded by nothing
# else; past this many per array we call the body hostile rather than allocate for it.
MAX_ZERO_WIDTH_ITEMS = 1_000_000
# The codec remembers schemas by object identity (the cheap key); beyond this many distinct
# objects, a caller is building a new dict per call, and the memo is reset to bound memory.
_MAX_IDENTITY_ENTRIES = 1024

T = TypeVar("T")


class CodecError(ValueError):
    """Bytes that are not a valid message, or a record that does not fit its schema.

    ``reason`` is machine-readable: too_short, bad_magic, unknown_schema_id, bad_body,
    trailing_bytes, invalid_record, invalid_schema.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnknownSchemaId(CodecError):
    def __init__(self, schema_id: int) -> None:
        super().__init__(
            "unknown_schema_id",
            f"Schema id {schema_id} is not registered: the message was written against "
            "another schema registry, or its header is corrupt.",
        )
        self.schema_id = schema_id


class SchemaResolver(Protocol):
    """Where the codec gets schema ids (to write) and schemas (to read).

    Implementations must be safe to call from several threads. Errors other than
    ``UnknownSchemaId`` (registry unreachable…) propagate to the codec's caller unchanged.
    """

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The global id of ``schema`` under ``subject``, registering it if new.

        Idempotent: the same schema (equal as JSON) always gets the same id.
        """
        ...

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        """The schema with this global id; raises ``UnknownSchemaId`` if there is none."""
        ...


def canonical_json(schema: Any) -> str:
    """One text per schema however its JSON was formatted or its keys ordered."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


class InMemorySchemaResolver:
    """A process-local registry for tests and benchmarks: global ids from 1, one per schema."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self.subjects: dict[str, list[int]] = {}

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        key = canonical_json(schema)
        with self._lock:
            schema_id = self._ids.get(key)
            if schema_id is None:
                schema_id = self._ids[key] = len(self._ids) + 1
                self._schemas[schema_id] = json.loads(key)  # a private copy
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
        return schema_id

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        try:
            return self._schemas[schema_id]
        except KeyError:
            raise UnknownSchemaId(schema_id) from None


def subject_for_topic(topic: str) -> str:
    """The value subject of ``topic`` (Confluent's TopicNameStrategy)."""
    return f"{topic}-value"


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded message."""

    schema_id: int
    schema: dict[str, Any]  # the writer schema, as the resolver returned it
    record: Any  # a dict for record schemas (all of ours)


class AvroCodec:
    """Encode and decode Confluent-framed Avro, with schemas from ``resolver``.

    Safe to share between threads: caches are plain dicts (atomic under the GIL), and a
    race on a cold cache only compiles a schema twice (the resolver is idempotent).
    Schemas passed to ``encode`` are cached by identity, so must not be mutated afterwards.
    """

    def __init__(self, resolver: SchemaResolver) -> None:
        self._resolver = resolver
        self._by_id: dict[int, _Plan] = {}
        self._by_canonical: dict[tuple[str, str], _Plan] = {}
        # (subject, id(schema)) -> (schema, plan); keeping ``schema`` alive pins its id().
        self._by_identity: dict[tuple[str, int], tuple[dict[str, Any], _Plan]] = {}

    def encode(self, subject: str, schema: dict[str, Any], record: Any) -> bytes:
        """``record`` framed for the wire, registering ``schema`` under ``subject`` if new.

        CodecError ``invalid_record`` (naming the field) if the record does not fit, and
        ``invalid_schema`` if the schema is not valid Avro (then nothing is registered).
        """
        plan = self._writer_plan(subject, schema)
        try:
            plan.validate(record)
        except _Mismatch as exc:
            raise CodecError("invalid_record", f"Record does not fit {plan.name}: {exc}") from None
        out = BytesIO()
        out.write(plan.header)
        try:
            schemaless_writer(out, plan.parsed, record)
        except (ValueError, TypeError, ArithmeticError) as exc:  # e.g. a Decimal too precise
            raise CodecError("invalid_record", f"Record does not fit {plan.name}: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> Decoded:
        """The schema id, writer schema and record of one message; CodecError if malformed."""
        if len(data) < HEADER.size:
            raise CodecError(
                "too_short",
                f"Message of {len(data)} bytes is shorter than the 5-byte Confluent header.",
            )
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise CodecError(
                "bad_magic",
                f"First byte is {magic}, not the magic byte 0 of Confluent-framed Avro.",
            )
        plan = self._by_id.get(schema_id) or self._reader_plan(schema_id)
        plan.check_body(data)
        stream = BytesIO(data)
        stream.seek(HEADER.size)
        try:
            record = schemaless_reader(stream, plan.parsed, None)
        # The scan leaves fastavro only failures of values: bad UTF-8, or a timestamp, date,
        # UUID or decimal that Python cannot represent. Its structural errors stay caught
        # too, should fastavro and the scan ever disagree.
        except (ValueError, ArithmeticError, EOFError, IndexError, struct.error) as exc:
            raise CodecError("bad_body", f"Body does not decode as {plan.name}: {exc}") from exc
        return Decoded(schema_id, plan.schema, record)

    def _writer_plan(self, subject: str, schema: dict[str, Any]) -> _Plan:
        cached = self._by_identity.get((subject, id(schema)))
        if cached is not None and cached[0] is schema:
            return cached[1]
        try:
            key = (subject, canonical_json(schema))
        except (TypeError, ValueError) as exc:
            raise CodecError("invalid_schema", f"Schema is not JSON: {exc}") from exc
        plan = self._by_canonical.get(key)
        if plan is None:
            compiled = _compile(schema)  # first: never register what cannot be parsed
            schema_id = self._resolver.register(subject, schema)
            plan = self._by_id.get(schema_id) or _Plan(schema_id, schema, *compiled)
            self._by_id[schema_id] = self._by_canonical[key] = plan
        if len(self._by_identity) >= _MAX_IDENTITY_ENTRIES:
            self._by_identity.clear()
        self._by_identity[(subject, id(schema))] = (schema, plan)
        return plan

    def _reader_plan(self, schema_id: int) -> _Plan:
        schema = self._resolver.schema_by_id(schema_id)
        plan = _Plan(schema_id, schema, *_compile(schema))
        self._by_id[schema_id] = plan
        return plan


class _Plan:
    """Everything the hot path needs for one schema id, computed once."""

    __slots__ = ("header", "name", "parsed", "schema", "skip", "validate")

    def __init__(
        self,
        schema_id: int,
        schema: dict[str, Any],
        parsed: Any,
        validate: _Validator,
        skip: _Skip,
    ) -> None:
        self.schema = schema
        self.parsed = parsed
        self.validate = validate
        self.skip = skip
        self.header = HEADER.pack(MAGIC_BYTE, schema_id)
        self.name = f"{schema.get('name', schema.get('type'))} (schema id {schema_id})"

    def check_body(self, data: bytes) -> None:
        try:
            end = self.skip(data, HEADER.size)
        except IndexError:  # the scan ran off the end of ``data``
            raise CodecError(
                "bad_body", f"Body is truncated: it ends inside a value of {self.name}."
            ) from None
        except _Malformed as exc:
            raise CodecError("bad_body", f"Body is not a valid {self.name}: {exc}") from None
        if end != len(data):
            raise CodecError(
                "trailing_bytes",
                f"{len(data) - end} byte(s) follow the end of the {self.name} record.",
            )


def _compile(schema: dict[str, Any]) -> tuple[Any, _Validator, _Skip]:
    try:
        parsed, named = compatibility.parse(schema)
    except compatibility.InvalidSchema as exc:
        raise CodecError("invalid_schema", f"Not a valid Avro schema: {exc}") from exc
    return parsed, _Validators(named).compile(parsed), _Scanner(named).compile(parsed)[0]


class _Compiler(Generic[T]):
    """Turns a parsed schema into nested closures, one per node, built once.

    Named types are compiled where they are defined; a reference to a type still being
    compiled (recursion) gets a forwarder that finds the finished closure at call time.
    """

    def __init__(self, named: dict[str, Any]) -> None:
        self._named = named
        self._done: dict[str, T] = {}
        self._pending: set[str] = set()

    def compile(self, node: Any) -> T:
        node = strip_wrappers(node)
        if isinstance(node, list):
            return self.union(node)
        if isinstance(node, str):
            return self.primitive(node) if node in PRIMITIVE_TYPES else self._reference(node)
        build: Callable[[dict[str, Any]], T] = getattr(self, node["type"])
        name = node.get("name")
        if name is None:  # array, map
            return build(node)
        self._pending.add(name)
        self._done[name] = result = build(node)
        self._pending.discard(name)
        return result

    def _reference(self, name: str) -> T:
        if name in self._pending:
            return self.forward(name, self._done)
        if name in self._done:
            return self._done[name]
        return self.compile(self._named[name])

    def primitive(self, name: str) -> T:
        raise NotImplementedError

    def forward(self, name: str, done: dict[str, T]) -> T:
        raise NotImplementedError

    def union(self, branches: list[Any]) -> T:
        raise NotImplementedError


# --- Records: does a Python value fit a schema? ---------------------------------------------

_Validator = Callable[[Any], None]


class _Mismatch(Exception):
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


def _int_check(low: int, high: int, avro: str) -> _Validator:
    def check(value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _Mismatch(f"expects {avro}, {_got(value)}")

    return check


def _type_check(types: Any, avro: str) -> _Validator:
    def check(value: Any) -> None:
        if not isinstance(value, types):
            raise _Mismatch(f"expects {avro}, {_got(value)}")

    return check


def _number_check(avro: str) -> _Validator:
    def check(value: Any) -> None:
        # bool is an int subclass, but True is no number in Avro (nor in fastavro's checks).
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _Mismatch(f"expects {avro}, {_got(value)}")

    return check


def _check_null(value: Any) -> None:
    if value is not None:
        raise _Mismatch(f"expects null, {_got(value)}")


_PRIMITIVE_VALIDATORS: dict[str, _Validator] = {
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
_LOGICAL_TYPES: dict[str, type] = {
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


class _Validators(_Compiler[_Validator]):
    def compile(self, node: Any) -> _Validator:
        check = super().compile(node)
        logical = isinstance(node, dict) and _LOGICAL_TYPES.get(node.get("logicalType", ""))
        if not logical:
            return check

        def either(value: Any) -> None:
            if not isinstance(value, logical):
                check(value)

        return either

    def primitive(self, name: str) -> _Validator:
        return _PRIMITIVE_VALIDATORS[name]

    def forward(self, name: str, done: dict[str, _Validator]) -> _Validator:
        return lambda value: done[name](value)

    def record(self, node: dict[str, Any]) -> _Validator:
        fields = [(f["name"], "default" in f, self.compile(f["type"])) for f in node["fields"]]
        names = frozenset(name for name, _, _ in fields)
        record = node["name"].rpartition(".")[2]

        def check(value: Any) -> None:
            if type(value) is not dict and not isinstance(value, Mapping):  # dict: fast
                raise _Mismatch(f"expects record {record} (a mapping), {_got(value)}")
            for name, has_default, field in fields:
                if name in value:
                    try:
                        field(value[name])
                    except _Mismatch as exc:
                        exc.path.insert(0, f".{name}")
                        raise
                elif not has_default:
                    raise _Mismatch("is required and has no default", f".{name}")
            if not names.issuperset(value):
                unknown = next(key for key in value if key not in names)
                raise _Mismatch(f"is not in record {record}", f".{unknown}")

        return check

    error = record

    def enum(self, node: dict[str, Any]) -> _Validator:
        symbols = frozenset(node["symbols"])

        def check(value: Any) -> None:
            if not isinstance(value, str) or value not in symbols:
                raise _Mismatch(f"expects one of {sorted(symbols)}, {_got(value)}")

        return check

    def fixed(self, node: dict[str, Any]) -> _Validator:
        size = node["size"]

        def check(value: Any) -> None:
            if not isinstance(value, bytes | bytearray) or len(value) != size:
                raise _Mismatch(f"expects {size} bytes (fixed {node['name']}), {_got(value)}")

        return check

    def array(self, node: dict[str, Any]) -> _Validator:
        item = self.compile(node["items"])

        def check(value: Any) -> None:
            if not isinstance(value, list | tuple):
                raise _Mismatch(f"expects an array (a list), {_got(value)}")
            for index, element in enumerate(value):
                try:
                    item(element)
                except _Mismatch as exc:
                    exc.path.insert(0, f"[{index}]")
                    raise

        return check

    def map(self, node: dict[str, Any]) -> _Validator:
        item = self.compile(node["values"])

        def check(value: Any) -> None:
            if not isinstance(value, Mapping):
                raise _Mismatch(f"expects a map (a dict), {_got(value)}")
            for key, element in value.items():
                if not isinstance(key, str):
                    raise _Mismatch(f"expects string map keys, {_got(key)}")
                try:
                    item(element)
                except _Mismatch as exc:
                    exc.path.insert(0, f"[{key!r}]")
                    raise

        return check

    def union(self, branches: list[Any]) -> _Validator:
        checks = [self.compile(branch) for branch in branches]
        described = [_describe(branch) for branch in branches]
        # Try only the branches that take the value's Python type: failing into the next
        # branch costs an exception, too slow for every optional field of every record.
        by_type: dict[type, list[_Validator]] = {}
        for branch, branch_check in zip(branches, checks, strict=True):
            for python_type in self._python_types(branch):
                by_type.setdefault(python_type, []).append(branch_check)
        # The usual optional field: a mismatch inside its one non-null type says more.
        non_null = [c for b, c in zip(branches, checks, strict=True) if _describe(b) != "null"]

        def check(value: Any) -> None:
            for branch in by_type.get(type(value), checks):  # a subclass: try them all
                try:
                    branch(value)
                except _Mismatch:
                    continue
                return
            if value is not None and len(non_null) == 1:
                non_null[0](value)  # raises its own, more precise, mismatch
            raise _Mismatch(f"expects one of {described}, {_got(value)}")

        return check

    def _python_types(self, branch: Any) -> tuple[type, ...]:
        logical = isinstance(branch, dict) and _LOGICAL_TYPES.get(branch.get("logicalType", ""))
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


# --- Bodies: do these bytes have the structure of the writer schema? -----------------------

# A skip reads one value's bytes from ``pos`` and returns the position after it; it raises
# IndexError when the bytes end first. With it, the fewest bytes one value can take.
_Skip = Callable[[bytes, int], int]
_Scan = tuple[_Skip, int]


class _Malformed(Exception):
    pass


def _read_long(buf: bytes, pos: int) -> tuple[int, int]:
    """The zigzag varint at ``pos`` and the position after it."""
    byte = buf[pos]
    if byte < 0x80:  # one byte: most lengths, indexes and small numbers
        return (byte >> 1) ^ -(byte & 1), pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise _Malformed("a varint runs past the 10 bytes of a long")
    if value >> 64:
        raise _Malformed("a varint overflows 64 bits")
    return (value >> 1) ^ -(value & 1), pos + 1


def _skip_long(buf: bytes, pos: int) -> int:
    if buf[pos] < 0x80:  # the common one-byte case, inlined: this runs once per value
        return pos + 1
    return _read_long(buf, pos)[1]


def _skip_int(buf: bytes, pos: int) -> int:
    value, pos = _read_long(buf, pos)
    if not -(2**31) <= value < 2**31:
        raise _Malformed(f"int value {value} is out of the 32-bit range")
    return pos


def _skip_sized(buf: bytes, pos: int) -> int:
    byte = buf[pos]
    if not byte & 0x81 and pos + 1 + (byte >> 1) <= len(buf):  # a short length, inlined
        return pos + 1 + (byte >> 1)
    size, pos = _read_long(buf, pos)
    _check_size(size, len(buf) - pos)
    return pos + size


def _check_size(size: int, left: int) -> None:
    if size < 0:
        raise _Malformed(f"a length is negative ({size})")
    if size > left:
        raise _Malformed(f"a length of {size} exceeds the {left} bytes left")


def _skip_null(buf: bytes, pos: int) -> int:
    return pos


def _fixed_width(size: int) -> _Skip:
    def skip(buf: bytes, pos: int) -> int:
        if pos + size > len(buf):
            raise IndexError
        return pos + size

    return skip


_PRIMITIVE_SCANS: dict[str, _Scan] = {
    "null": (_skip_null, 0),
    "boolean": (_fixed_width(1), 1),
    "int": (_skip_int, 1),
    "long": (_skip_long, 1),
    "float": (_fixed_width(4), 4),
    "double": (_fixed_width(8), 8),
    "bytes": (_skip_sized, 1),
    "string": (_skip_sized, 1),
}


def _indexed(count: int, what: str) -> tuple[int, Callable[[bytes, int], tuple[int, int]]]:
    """An enum's or union's index reader, which (unlike fastavro) refuses negative ones.

    Also the bound under which a single byte at ``pos`` is a valid index on its own, for
    callers to inline that common case: an even byte (non-negative) below it.
    """

    def read(buf: bytes, pos: int) -> tuple[int, int]:
        index, pos = _read_long(buf, pos)
        if not 0 <= index < count:
            raise _Malformed(f"{what} index {index} is not in 0..{count - 1}")
        return index, pos

    return min(2 * count, 0x80), read


class _Scanner(_Compiler[_Scan]):
    def primitive(self, name: str) -> _Scan:
        return _PRIMITIVE_SCANS[name]

    def forward(self, name: str, done: dict[str, _Scan]) -> _Scan:
        # Its width is unknown until it is compiled: 0 is a safe lower bound (block
        # counts of it are then bounded by MAX_ZERO_WIDTH_ITEMS instead).
        return (lambda buf, pos: done[name][0](buf, pos)), 0

    def record(self, node: dict[str, Any]) -> _Scan:
        fields = [self.compile(f["type"]) for f in node["fields"]]
        skips = [skip for skip, _ in fields]

        def skip(buf: bytes, pos: int) -> int:
            for field in skips:
                pos = field(buf, pos)
            return pos

        return skip, sum(width for _, width in fields)

    error = record

    def enum(self, node: dict[str, Any]) -> _Scan:
        name = node["name"].rpartition(".")[2]
        one_byte, read_index = _indexed(len(node["symbols"]), f"enum {name}")

        def skip(buf: bytes, pos: int) -> int:
            byte = buf[pos]
            if not byte & 1 and byte < one_byte:
                return pos + 1
            return read_index(buf, pos)[1]

        return skip, 1

    def fixed(self, node: dict[str, Any]) -> _Scan:
        return _fixed_width(node["size"]), node["size"]

    def union(self, branches: list[Any]) -> _Scan:
        skips = [self.compile(branch)[0] for branch in branches]
        one_byte, read_index = _indexed(len(skips), "union")

        def skip(buf: bytes, pos: int) -> int:
            byte = buf[pos]
            if not byte & 1 and byte < one_byte:
                return skips[byte >> 1](buf, pos + 1)
            index, pos = read_index(buf, pos)
            return skips[index](buf, pos)

        return skip, 1

    def array(self, node: dict[str, Any]) -> _Scan:
        return _blocks(*self.compile(node["items"])), 1

    def map(self, node: dict[str, Any]) -> _Scan:
        value, width = self.compile(node["values"])

        def entry(buf: bytes, pos: int) -> int:
            return value(buf, _skip_sized(buf, pos))

        return _blocks(entry, width + 1), 1


def _blocks(item: _Skip, width: int) -> _Skip:
    """Skip an array or map: blocks of ``count`` items, ended by an empty block."""

    def skip(buf: bytes, pos: int) -> int:
        total = 0
        while True:
            byte = buf[pos]
            if byte < 0x80:  # one-byte count, inlined
                count, pos = (byte >> 1) ^ -(byte & 1), pos + 1
            else:
                count, pos = _read_long(buf, pos)
            if count == 0:
                return pos
            if count < 0:  # a negative count is followed by the block's size in bytes
                count = -count
                size, pos = _read_long(buf, pos)
                _check_size(size, len(buf) - pos)
            # Bound the count before looping over it: a few bytes must not buy a long loop.
            if count * width > len(buf) - pos:
                raise _Malformed(f"{count} items cannot fit the {len(buf) - pos} bytes left")
            total += count
            if total > MAX_ZERO_WIDTH_ITEMS and not width:
                raise _Malformed(f"more than {MAX_ZERO_WIDTH_ITEMS} items that take no bytes")
            for _ in range(count):
                pos = item(buf, pos)

    return skip
