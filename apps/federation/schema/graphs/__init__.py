"""The graphs the API serves, one module each: `unified` (what `/graphql` serves) and one
Apollo Federation v2 subgraph per domain (`customers`, `products`, `invoices`, `catalog`,
`sagas`).

A graph module declares its types as plain classes built from the domain modules' field
classes: the unified `Customer` has every domain's customer fields, while the invoices
subgraph's `Customer` is a key-only stub carrying just `invoices`. Field classes refer to
other types by name (:func:`graph_type`), and the name is looked up in the graph being
built, so one field class serves every graph it appears in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

_graph_being_built: ContextVar[ModuleType | None] = ContextVar("graph_being_built",
                                                               default=None)


def graph_type(name: str) -> Callable[[], Any]:
    """A lazy reference to the type ``name`` of the graph being built (see above); graphene
    resolves it while it builds the schema, inside :func:`building`."""

    def resolve() -> Any:
        graph = _graph_being_built.get()
        if graph is None:
            raise RuntimeError(f"graph_type({name!r}) resolved outside building(): build "
                               "schemas through apps.federation.schema.")
        return getattr(graph, name)

    return resolve


@contextmanager
def building(graph: ModuleType) -> Iterator[None]:
    """Resolve :func:`graph_type` references against ``graph`` meanwhile."""
    token = _graph_being_built.set(graph)
    try:
        yield
    finally:
        _graph_being_built.reset(token)
