"""Do these bytes have the structure of the writer schema? Checked before fastavro reads.

Every length, block count, enum and union index must fit in the bytes that are there.
fastavro alone would read ``-1`` as the *last* enum symbol or union branch, and would build
a list of 2**60 Nones for a tiny ``array<null>``. A scan raises ``Malformed`` for a value
that cannot be, and ``IndexError`` when the bytes end inside a value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dictamesh.events.schema_compiler import SchemaCompiler

# A block of items that take no bytes (array<null>, empty records) is bounded by nothing
# else; past this many per array we call the body hostile rather than allocate for it.
MAX_ZERO_WIDTH_ITEMS = 1_000_000

# A skip reads one value's bytes from ``pos`` and returns the position after it; it raises
# IndexError when the bytes end first. With it, the fewest bytes one value can take.
Skip = Callable[[bytes, int], int]
_Scan = tuple[Skip, int]


class Malformed(Exception):
    """Bytes that cannot be a value of the schema; the message says which rule they break."""


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
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
            raise Malformed("a varint runs past the 10 bytes of a long")
    if value >> 64:
        raise Malformed("a varint overflows 64 bits")
    return (value >> 1) ^ -(value & 1), pos + 1


def _skip_long(buf: bytes, pos: int) -> int:
    if buf[pos] < 0x80:  # the common one-byte case, inlined: this runs once per value
        return pos + 1
    return read_long(buf, pos)[1]


def _skip_int(buf: bytes, pos: int) -> int:
    value, pos = read_long(buf, pos)
    if not -(2**31) <= value < 2**31:
        raise Malformed(f"int value {value} is out of the 32-bit range")
    return pos


def _skip_sized(buf: bytes, pos: int) -> int:
    byte = buf[pos]
    if not byte & 0x81 and pos + 1 + (byte >> 1) <= len(buf):  # a short length, inlined
        return pos + 1 + (byte >> 1)
    size, pos = read_long(buf, pos)
    _check_size(size, len(buf) - pos)
    return pos + size


def _check_size(size: int, left: int) -> None:
    if size < 0:
        raise Malformed(f"a length is negative ({size})")
    if size > left:
        raise Malformed(f"a length of {size} exceeds the {left} bytes left")


def _skip_null(buf: bytes, pos: int) -> int:
    return pos


def _fixed_width(size: int) -> Skip:
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
        index, pos = read_long(buf, pos)
        if not 0 <= index < count:
            raise Malformed(f"{what} index {index} is not in 0..{count - 1}")
        return index, pos

    return min(2 * count, 0x80), read


class _Scanner(SchemaCompiler[_Scan]):
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


def _blocks(item: Skip, width: int) -> Skip:
    """Skip an array or map: blocks of ``count`` items, ended by an empty block."""

    def skip(buf: bytes, pos: int) -> int:
        total = 0
        while True:
            byte = buf[pos]
            if byte < 0x80:  # one-byte count, inlined
                count, pos = (byte >> 1) ^ -(byte & 1), pos + 1
            else:
                count, pos = read_long(buf, pos)
            if count == 0:
                return pos
            if count < 0:  # a negative count is followed by the block's size in bytes
                count = -count
                size, pos = read_long(buf, pos)
                _check_size(size, len(buf) - pos)
            # Bound the count before looping over it: a few bytes must not buy a long loop.
            if count * width > len(buf) - pos:
                raise Malformed(f"{count} items cannot fit the {len(buf) - pos} bytes left")
            total += count
            if total > MAX_ZERO_WIDTH_ITEMS and not width:
                raise Malformed(f"more than {MAX_ZERO_WIDTH_ITEMS} items that take no bytes")
            for _ in range(count):
                pos = item(buf, pos)

    return skip


def compile_scanner(parsed: Any, named: dict[str, Any]) -> Skip:
    """The body scan of a parsed schema (``compatibility.parse``): ``skip(buf, pos)``."""
    return _Scanner(named).compile(parsed)[0]
