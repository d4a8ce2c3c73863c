"""The shared walk of the codec's two compilers (record validator, body scanner).

A parsed Avro schema is turned once into nested closures, one per node, so that the hot
path runs plain Python calls with no schema lookups left in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dictamesh.events import PRIMITIVE_TYPES, strip_wrappers

T = TypeVar("T")


class SchemaCompiler(Generic[T]):
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
