"""A generated reader that checks an Avro body while it decodes it, in one pass.

The general path scans a body (``body_scanner``), then lets fastavro read it. fastavro's C
reader still calls ``read(1)`` on a stream for every byte of every varint, so for our small
events the scan plus the read cost about twice fastavro alone. The reader generated here
works on the bytes directly, with the scan's every rule inlined: lengths and counts must
fit the bytes left, enum and union indexes must be in range, an ``int`` must fit 32 bits, a
varint at most 10 bytes and 64 bits, items that take no bytes are bounded, and the record
must end exactly at the end of the message. Logical types go through fastavro's own
converters, so a value decodes to exactly what fastavro returns.

It refuses by raising (any exception): the codec then takes the general path, which either
names the problem precisely (the scan's messages) or, should the two ever disagree on a
valid body, decodes it all the same. A refusal is therefore never a wrong answer, only a
slower one; what the reader accepts must decode as fastavro would, which the tests compare.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fastavro.read import LOGICAL_READERS

from dictamesh.events import PRIMITIVE_TYPES
from dictamesh.events.body_scanner import MAX_ZERO_WIDTH_ITEMS, Malformed, read_long
from dictamesh.events.codegen import Emitter, Unsupported

# Decodes a whole message (the Confluent header included, which it skips): the record.
BodyReader = Callable[[bytes], Any]

_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")
_FIXED_WIDTHS = {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8,
                 "bytes": 1, "string": 1}


class Refused(Exception):
    """The body breaks a rule; the general path says which."""


def _read_int(buf: bytes, pos: int) -> tuple[int, int]:
    value, pos = read_long(buf, pos)
    if not -(2**31) <= value < 2**31:
        raise Malformed(f"int value {value} is out of the 32-bit range")
    return value, pos


class _Generator:
    def __init__(self, named: dict[str, Any], header_size: int) -> None:
        self._named = named
        self._header_size = header_size
        self._out = Emitter()
        self._out.namespace.update(
            _read_long=read_long, _read_int=_read_int, _Refused=Refused,
            _float=_FLOAT.unpack_from, _double=_DOUBLE.unpack_from)
        self._inlining: list[str] = []  # named records being written out, innermost last
        self._functions: dict[str, str] = {}  # recursive records: name -> function
        self._pending: list[str] = []

    def generate(self, parsed: Any) -> BodyReader:
        out = self._out
        with out.block("def _read(buf):"):
            out.line("size = len(buf)")
            out.line(f"pos = {self._header_size}")
            value = self._value(parsed)
            out.line("if pos != size: raise _Refused")
            out.line(f"return {value}")
        while self._pending:
            name = self._pending.pop()
            with out.block(f"def {self._functions[name]}(buf, pos, size):"):
                self._inlining.append(name)
                value = self._record(self._named[name])
                self._inlining.pop()
                out.line(f"return {value}, pos")
        return out.build("_read")

    # --- one value: emits code that reads it at ``pos``, returns the variable holding it

    def _value(self, node: Any) -> str:
        if isinstance(node, list):
            return self._union(node)
        if isinstance(node, str):
            if node in PRIMITIVE_TYPES:
                return self._primitive(node)
            return self._named_value(node)
        kind = node.get("type")
        if not isinstance(kind, str):
            raise Unsupported(f"nested type {kind!r}")
        if kind in PRIMITIVE_TYPES:
            value = self._primitive(kind)
        elif kind in ("record", "error"):
            value = self._named_value(node["name"], node)
        elif kind in ("enum", "fixed"):
            value = self._enum(node) if kind == "enum" else self._fixed(node)
        elif kind == "array":
            value = self._array(node)
        elif kind == "map":
            value = self._map(node)
        elif kind in self._named:
            value = self._named_value(kind)
        else:
            raise Unsupported(f"type {kind!r}")
        return self._logical(node, value)

    def _logical(self, node: dict[str, Any], value: str) -> str:
        """As fastavro does after reading a node that names a logical type."""
        logical = node.get("logicalType")
        convert = LOGICAL_READERS.get(f"{node['type']}-{logical}") if logical else None
        if convert is None:
            return value
        function = self._out.constant(convert, "logical")
        schema = self._out.constant(node, "schema")
        self._out.line(f"{value} = {function}({value}, {schema}, None)")
        return value

    def _named_value(self, name: str, node: dict[str, Any] | None = None) -> str:
        node = node if node is not None else self._named[name]
        if node["type"] not in ("record", "error"):
            return self._value(node)  # enum, fixed: leaves, written out in place
        if name not in self._inlining:
            self._inlining.append(name)
            value = self._record(node)
            self._inlining.pop()
            return self._logical(node, value)
        if name not in self._functions:  # recursion: a function that calls itself
            self._functions[name] = self._out.fresh("_record")
            self._pending.append(name)
        value = self._out.fresh("v")
        self._out.line(f"{value}, pos = {self._functions[name]}(buf, pos, size)")
        return value

    def _record(self, node: dict[str, Any]) -> str:
        values = [(field["name"], self._value(field["type"])) for field in node["fields"]]
        value = self._out.fresh("v")
        items = ", ".join(f"{name!r}: {variable}" for name, variable in values)
        self._out.line(f"{value} = {{{items}}}")
        return value

    def _primitive(self, kind: str) -> str:
        out, value = self._out, self._out.fresh("v")
        if kind == "null":
            out.line(f"{value} = None")
        elif kind in ("int", "long"):
            self._long(value, "_read_int" if kind == "int" else "_read_long")
        elif kind == "boolean":
            out.line("b = buf[pos]")
            out.line("if b > 1: raise _Refused")  # fastavro reads any non-zero as True
            out.line(f"{value} = b == 1")
            out.line("pos += 1")
        elif kind in ("float", "double"):
            out.line(f"{value} = _{kind}(buf, pos)[0]")
            out.line(f"pos += {_FIXED_WIDTHS[kind]}")
        else:  # bytes, string
            self._length()
            decode = ".decode()" if kind == "string" else ""
            out.line(f"{value} = buf[pos:end]{decode}")
            out.line("pos = end")
        return value

    def _long(self, value: str, reader: str = "_read_long") -> None:
        out = self._out
        out.line("b = buf[pos]")
        with out.block("if b < 128:"):  # one byte: most numbers, counts and indexes
            out.line(f"{value} = (b >> 1) ^ -(b & 1)")
            out.line("pos += 1")
        with out.block("else:"):
            out.line(f"{value}, pos = {reader}(buf, pos)")

    def _length(self) -> None:
        """Sets ``end``, the end of the sized value at ``pos``, and moves ``pos`` past its
        length."""
        out = self._out
        out.line("b = buf[pos]")
        with out.block("if b < 128 and not b & 1:"):
            out.line("end = pos + 1 + (b >> 1)")
            out.line("pos += 1")
        with out.block("else:"):
            out.line("end, pos = _read_long(buf, pos)")
            out.line("if end < 0: raise _Refused")
            out.line("end += pos")
        out.line("if end > size: raise _Refused")

    def _index(self, count: int) -> str:
        out, index = self._out, self._out.fresh("i")
        out.line("b = buf[pos]")
        with out.block(f"if b < {min(2 * count, 128)} and not b & 1:"):
            out.line(f"{index} = b >> 1")
            out.line("pos += 1")
        with out.block("else:"):
            out.line(f"{index}, pos = _read_long(buf, pos)")
            out.line(f"if not 0 <= {index} < {count}: raise _Refused")
        return index

    def _enum(self, node: dict[str, Any]) -> str:
        symbols = self._out.constant(tuple(node["symbols"]), "symbols")
        index = self._index(len(node["symbols"]))
        value = self._out.fresh("v")
        self._out.line(f"{value} = {symbols}[{index}]")
        return value

    def _fixed(self, node: dict[str, Any]) -> str:
        out, value = self._out, self._out.fresh("v")
        out.line(f"end = pos + {int(node['size'])}")
        out.line("if end > size: raise _Refused")
        out.line(f"{value} = buf[pos:end]")
        out.line("pos = end")
        return value

    def _union(self, branches: list[Any]) -> str:
        out, value = self._out, self._out.fresh("v")
        index = self._index(len(branches))
        for number, branch in enumerate(branches):
            with out.block(f"{'if' if number == 0 else 'elif'} {index} == {number}:"):
                out.line(f"{value} = {self._value(branch)}")
        return value

    def _array(self, node: dict[str, Any]) -> str:
        value = self._out.fresh("v")
        self._out.line(f"{value} = []")
        self._blocks(node["items"], self._width(node["items"]),
                     lambda _key, item: self._out.line(f"{value}.append({item})"))
        return value

    def _map(self, node: dict[str, Any]) -> str:
        value = self._out.fresh("v")
        self._out.line(f"{value} = {{}}")
        self._blocks(node["values"], self._width(node["values"]) + 1,
                     lambda key, item: self._out.line(f"{value}[{key}] = {item}"), keyed=True)
        return value

    def _blocks(self, item: Any, width: int, store: Callable[[str, str], None],
                *, keyed: bool = False) -> None:
        """Blocks of ``count`` items ended by an empty one, as ``body_scanner._blocks``."""
        out = self._out
        count, total = out.fresh("c"), out.fresh("t")
        if not width:
            out.line(f"{total} = 0")
        with out.block("while True:"):
            self._long(count)
            out.line(f"if not {count}: break")
            with out.block(f"if {count} < 0:"):
                out.line(f"{count} = -{count}")
                block_size = out.fresh("s")
                self._long(block_size)
                out.line(f"if {block_size} < 0 or {block_size} > size - pos: raise _Refused")
            out.line(f"if {count} * {width} > size - pos: raise _Refused")
            if not width:
                out.line(f"{total} += {count}")
                out.line(f"if {total} > {MAX_ZERO_WIDTH_ITEMS}: raise _Refused")
            with out.block(f"for _ in range({count}):"):
                key = out.fresh("k")
                if keyed:
                    self._length()
                    out.line(f"{key} = buf[pos:end].decode()")
                    out.line("pos = end")
                store(key, self._value(item))

    def _width(self, node: Any, seen: frozenset[str] = frozenset()) -> int:
        """The fewest bytes one value takes (0 where recursion makes it unknown)."""
        if isinstance(node, list):
            return 1
        if isinstance(node, str):
            if node in _FIXED_WIDTHS:
                return _FIXED_WIDTHS[node]
            if node in seen:
                return 0
            return self._width(self._named[node], seen | {node})
        kind = node["type"]
        if kind in _FIXED_WIDTHS:
            return _FIXED_WIDTHS[kind]
        if kind in ("record", "error"):
            inner = seen | {node["name"]}
            return sum(self._width(field["type"], inner) for field in node["fields"])
        if kind == "fixed":
            return int(node["size"])
        if kind in ("enum", "array", "map"):
            return 1
        return self._width(kind, seen)


def compile_body_reader(parsed: Any, named: dict[str, Any], header_size: int) -> BodyReader:
    """The generated reader of messages written with ``parsed`` (``compatibility.parse``);
    ``Unsupported`` for a schema shape it does not handle."""
    return _Generator(named, header_size).generate(parsed)
