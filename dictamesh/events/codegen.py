"""A small emitter of Python source, for the codec's generated fast paths.

Closures (``schema_compiler``) cost a Python call per schema node; for the codec's hot path
that is most of its time. The fast paths (``body_reader``, ``quick_validator``) instead write
one flat function per schema, compiled once per schema id, whose only calls are the ones
Python cannot inline (decoding UTF-8, a logical type's conversion).

Generated code reads no input as code: schema names and symbols reach it as constants bound
in the function's namespace or as ``repr`` literals, never as identifiers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Unsupported(Exception):
    """A schema the generator does not handle; its caller keeps the general path."""


class Emitter:
    """Lines of one generated module, with indentation, fresh names and bound constants."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._depth = 0
        self._counter = 0
        self.namespace: dict[str, Any] = {}

    def line(self, text: str) -> None:
        self._lines.append("    " * self._depth + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def constant(self, value: Any, prefix: str = "k") -> str:
        """A name under which the generated code sees ``value``."""
        name = self.fresh(f"_{prefix}")
        self.namespace[name] = value
        return name

    def build(self, entry: str) -> Callable[..., Any]:
        """Compile the lines and return the function named ``entry``."""
        source = "\n".join(self._lines)
        exec(compile(source, f"<generated {entry}>", "exec"), self.namespace)  # noqa: S102
        function: Callable[..., Any] = self.namespace[entry]
        function.__doc__ = source  # what was generated, for whoever debugs it
        return function
