"""Avro values in the Confluent wire format: byte 0 is the magic 0, bytes 1-4 the schema id
(big-endian unsigned), then the Avro binary body — what Confluent's serializers write and
read, so standard Kafka tooling understands our topics.

Two paths do the work. The fast one, for plain records and well-formed bodies, is a pair of
functions generated per schema (``body_writer``, ``body_reader``) that check and encode, or
check and decode, in one pass, byte for byte as fastavro would. Whatever they refuse takes
the general path: fastavro (C extension) with what a consumer of untrusted bytes needs
around it: before fastavro reads a body, the compiled scan of ``body_scanner`` checks its
structure against the writer schema; before fastavro writes a record, the compiled
validator of ``record_validator`` checks it. So every refusal is still explained by the
general path's precise messages. Schemas are parsed and
compiled once per id, and ids looked up once per schema object, so the hot path does no JSON
work and no resolver call. A schema whose named types come from other subjects (Confluent's
schema references) is compiled with their definitions, which the resolver gives once per id.

Every failure is a :class:`CodecError` whose ``reason`` a consumer can route on (dead-letter
it) — except a resolver that cannot answer (registry down): that error propagates as is,
because the message is fine and the consumer should retry, not dead-letter.
"""

from __future__ import annotations

import json
import struct
import threading
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer

from dictamesh.events import compatibility
from dictamesh.events.body_reader import BodyReader, compile_body_reader
from dictamesh.events.body_scanner import MAX_ZERO_WIDTH_ITEMS, Malformed, Skip, compile_scanner
from dictamesh.events.body_writer import BodyWriter, compile_body_writer
from dictamesh.events.codegen import Unsupported
from dictamesh.events.record_validator import Mismatch, Validator, compile_validator

__all__ = [  # MAX_ZERO_WIDTH_ITEMS: the scan's bound, part of what a decode refuses
    "HEADER",
    "MAGIC_BYTE",
    "MAX_ZERO_WIDTH_ITEMS",
    "AvroCodec",
    "CodecError",
    "Decoded",
    "InMemorySchemaResolver",
    "SchemaResolver",
    "UnknownSchemaId",
    "canonical_json",
    "subject_for_topic",
]

MAGIC_BYTE = 0
HEADER = struct.Struct(">BI")  # magic byte, schema id
# The codec remembers schemas by object identity (the cheap key); beyond this many distinct
# objects, a caller is building a new dict per call, and the memo is reset to bound memory.
_MAX_IDENTITY_ENTRIES = 1024


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

    def references_by_id(self, schema_id: int) -> list[dict[str, Any]]:
        """The schemas defining the named types that schema ``schema_id`` takes from other
        subjects (Confluent's schema references, followed transitively), each before any
        that uses its types; [] for a self-contained schema. Asked once per id, when the
        codec first reads that id."""
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

    def references_by_id(self, schema_id: int) -> list[dict[str, Any]]:
        return []  # what ``register`` takes is self-contained


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
        if plan.write is not None:
            try:
                return plan.write(record)
            except Exception:  # noqa: BLE001, S110 - not a plain record: the general path decides
                pass
        try:
            plan.validate(record)
        except Mismatch as exc:
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
        if plan.read is not None and type(data) is bytes:
            try:
                return Decoded(schema_id, plan.schema, plan.read(data))
            except Exception:  # noqa: BLE001, S110 - the general path below names the fault
                pass
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
            plan = self._by_id.get(schema_id) or _Plan(schema_id, schema, compiled)
            self._by_id[schema_id] = self._by_canonical[key] = plan
        if len(self._by_identity) >= _MAX_IDENTITY_ENTRIES:
            self._by_identity.clear()
        self._by_identity[(subject, id(schema))] = (schema, plan)
        return plan

    def _reader_plan(self, schema_id: int) -> _Plan:
        schema = self._resolver.schema_by_id(schema_id)
        # A schema using types of other subjects (written by, e.g., a Confluent serializer
        # given references) compiles with their definitions; the hot path is unchanged.
        references = self._resolver.references_by_id(schema_id)
        compiled = _compile(compatibility.WithReferences(schema, tuple(references))
                            if references else schema)
        plan = _Plan(schema_id, schema, compiled)
        self._by_id[schema_id] = plan
        return plan


class _Plan:
    """Everything the hot path needs for one schema id, computed once."""

    __slots__ = ("header", "name", "parsed", "read", "schema", "skip", "validate", "write")

    def __init__(self, schema_id: int, schema: dict[str, Any], compiled: _Compiled) -> None:
        self.schema = schema
        self.parsed = compiled.parsed
        self.validate = compiled.validate
        self.skip = compiled.skip
        self.header = HEADER.pack(MAGIC_BYTE, schema_id)
        # Checks and decoding (encoding) in one pass, refusing by raising: the general
        # path then decides. None for a schema the generators leave to the general path.
        self.read, self.write = _fast_paths(compiled, self.header)
        self.name = f"{schema.get('name', schema.get('type'))} (schema id {schema_id})"

    def check_body(self, data: bytes) -> None:
        try:
            end = self.skip(data, HEADER.size)
        except IndexError:  # the scan ran off the end of ``data``
            raise CodecError(
                "bad_body", f"Body is truncated: it ends inside a value of {self.name}."
            ) from None
        except Malformed as exc:
            raise CodecError("bad_body", f"Body is not a valid {self.name}: {exc}") from None
        if end != len(data):
            raise CodecError(
                "trailing_bytes",
                f"{len(data) - end} byte(s) follow the end of the {self.name} record.",
            )


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A valid schema, parsed, with its general checks."""

    parsed: Any
    named: dict[str, Any]
    validate: Validator
    skip: Skip


def _compile(schema: dict[str, Any] | compatibility.WithReferences) -> _Compiled:
    try:
        parsed, named = compatibility.parse(schema)
    except compatibility.InvalidSchema as exc:
        raise CodecError("invalid_schema", f"Not a valid Avro schema: {exc}") from exc
    return _Compiled(parsed, named, compile_validator(parsed, named),
                     compile_scanner(parsed, named))


def _fast_paths(compiled: _Compiled, header: bytes) -> tuple[BodyReader | None,
                                                             BodyWriter | None]:
    """The generated reader and writer of a schema, where the generators take it."""
    try:
        read: BodyReader | None = compile_body_reader(compiled.parsed, compiled.named,
                                                      len(header))
    except Unsupported:
        read = None
    try:
        write: BodyWriter | None = compile_body_writer(compiled.parsed, compiled.named, header)
    except Unsupported:
        write = None
    return read, write
