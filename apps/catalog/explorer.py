"""The relationship graph as a curator explores it: pass-through nodes collapsed, depth
counted in what is drawn, each node named and linked.

Some relationships go through nodes no source will ever send: an invoice's line items
(`invoice --has_item--> invoice_item --references--> product`) are part of the invoice,
never entities of their own. Drawn, they fill half of every graph with "not yet in the
catalog" boxes and push a customer's products beyond the depth asked for. A node whose
type has no entity at all in the catalog, with edges on both sides, is therefore shown as
one edge `invoice --has_item › references--> product` carrying what it went through. The
walk in the database goes twice as deep as asked, so every node within ``depth`` collapsed
hops is found.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from apps.catalog import services
from apps.catalog.contracts import (
    MAX_GRAPH_DEPTH,
    Direction,
    EntityKey,
    GraphEdge,
    GraphNode,
    InvalidGraphQuery,
    RelationshipGraph,
)
from apps.catalog.display import display_name

#: what the explorer draws at most; past it a picture stops helping (the table lists all)
MAX_EXPLORER_NODES = 300
MAX_EXPLORER_DEPTH = MAX_GRAPH_DEPTH // 2


@dataclass(frozen=True)
class ExplorerEdge:
    id: str  # the relationship's id, or "<id>+<id>" for a collapsed path
    subject: EntityKey
    label: str
    object: EntityKey
    origin: str
    relationship_ids: tuple[int, ...]
    via: tuple[EntityKey, ...] = ()


@dataclass(frozen=True)
class ExplorerGraph:
    root: EntityKey
    direction: Direction
    depth: int
    nodes: list[GraphNode]
    edges: list[ExplorerEdge]
    truncated: bool = False  # more nodes were reachable than MAX_EXPLORER_NODES
    collapsed_types: frozenset[str] = field(default_factory=frozenset)
    relationship_types: frozenset[str] = field(default_factory=frozenset)  # of the walk

    def names(self) -> dict[EntityKey, str]:
        return {node.key: display_name(node.attributes) for node in self.nodes}


def explore(entity_type: str, entity_id: str, *, depth: int = 2,
            direction: Direction = "both",
            relationship_types: Sequence[str] | None = None) -> ExplorerGraph:
    """The neighbourhood of an entity up to ``depth`` drawn hops (InvalidGraphQuery when
    depth or direction is out of range)."""
    if not 1 <= depth <= MAX_EXPLORER_DEPTH:
        raise InvalidGraphQuery(f"depth must be between 1 and {MAX_EXPLORER_DEPTH}, "
                                f"not {depth}.")
    raw = services.query_relationship_graph(entity_type, entity_id, direction=direction,
                                            relationship_types=relationship_types,
                                            max_depth=depth * 2)
    unresolved_types = {n.key.entity_type for n in raw.nodes if not n.resolved}
    through_types = frozenset(unresolved_types - services.catalogued_types(unresolved_types))
    edges = _collapse(raw, through_types)
    return _within(raw, edges, depth, direction, through_types)


def _collapse(raw: RelationshipGraph, through_types: frozenset[str]) -> list[ExplorerEdge]:
    incoming: dict[EntityKey, list[GraphEdge]] = {}
    outgoing: dict[EntityKey, list[GraphEdge]] = {}
    for edge in raw.edges:
        outgoing.setdefault(edge.subject, []).append(edge)
        incoming.setdefault(edge.object, []).append(edge)

    def passes_through(key: EntityKey) -> bool:
        return (key != raw.root and key.entity_type in through_types
                and bool(incoming.get(key)) and bool(outgoing.get(key)))

    collapsed: list[ExplorerEdge] = []
    for edge in raw.edges:
        if passes_through(edge.subject):
            continue  # drawn as part of the path that enters the pass-through node
        if not passes_through(edge.object):
            collapsed.append(ExplorerEdge(str(edge.id), edge.subject, edge.relationship_type,
                                          edge.object, edge.origin, (edge.id,)))
            continue
        middle = edge.object
        for onward in outgoing[middle]:
            manual = "manual" in (edge.origin, onward.origin)
            collapsed.append(ExplorerEdge(
                f"{edge.id}+{onward.id}", edge.subject,
                f"{edge.relationship_type} › {onward.relationship_type}", onward.object,
                "manual" if manual else edge.origin, (edge.id, onward.id), (middle,)))
    return collapsed


def _within(raw: RelationshipGraph, edges: list[ExplorerEdge], depth: int,
            direction: Direction, through_types: frozenset[str]) -> ExplorerGraph:
    """Breadth-first from the root over the drawn edges, ``depth`` hops at most."""
    steps: dict[EntityKey, list[EntityKey]] = {}
    follow: list[Callable[[ExplorerEdge], tuple[EntityKey, EntityKey]]] = []
    if direction in ("outgoing", "both"):
        follow.append(lambda e: (e.subject, e.object))
    if direction in ("incoming", "both"):
        follow.append(lambda e: (e.object, e.subject))
    for edge in edges:
        for ends in follow:
            start, end = ends(edge)
            steps.setdefault(start, []).append(end)
    hops = {raw.root: 0}
    queue = deque([raw.root])
    while queue:
        key = queue.popleft()
        if hops[key] == depth:
            continue
        for neighbour in steps.get(key, ()):
            if neighbour not in hops:
                hops[neighbour] = hops[key] + 1
                queue.append(neighbour)
    known = {node.key: node for node in raw.nodes}
    ordered = sorted(hops, key=lambda k: (hops[k], k.entity_type, k.entity_id))
    kept = ordered[:MAX_EXPLORER_NODES]
    kept_set = set(kept)
    nodes = [_at_depth(known.get(key), key, hops[key]) for key in kept]
    return ExplorerGraph(
        root=raw.root, direction=direction, depth=depth, nodes=nodes,
        edges=[e for e in edges if e.subject in kept_set and e.object in kept_set],
        truncated=len(ordered) > len(kept), collapsed_types=through_types,
        relationship_types=frozenset(e.relationship_type for e in raw.edges))


def _at_depth(node: GraphNode | None, key: EntityKey, depth: int) -> GraphNode:
    if node is None:
        return GraphNode(key=key, depth=depth, resolved=False)
    return GraphNode(key=key, depth=depth, resolved=node.resolved,
                     source_system=node.source_system, version=node.version,
                     attributes=node.attributes)
