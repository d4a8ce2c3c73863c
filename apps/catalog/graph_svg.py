"""Draw an explorer graph as an SVG picture, server-side: the entity page's picture when
scripts are off (the explorer replaces it when they run). Nodes stand in bands by their
distance from the root; a band with many nodes wraps into several columns instead of
growing into a long strip, and each node links to its entity's page."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from apps.catalog.contracts import EntityKey
from apps.catalog.explorer import ExplorerGraph

NODE_WIDTH = 190
NODE_HEIGHT = 34
COLUMN_GAP = 120
WRAP_GAP = 24
ROW_GAP = 22
MARGIN = 20
ROWS_PER_COLUMN = 10  # a band taller than this wraps into another column
MAX_NODES_DRAWN = 120  # beyond this a picture stops being readable; the table lists all


def _positions(graph: ExplorerGraph) -> dict[EntityKey, tuple[int, int]]:
    bands: dict[int, list[EntityKey]] = {}
    for node in graph.nodes[:MAX_NODES_DRAWN]:
        bands.setdefault(node.depth, []).append(node.key)
    position: dict[EntityKey, tuple[int, int]] = {}
    x = MARGIN
    for depth in sorted(bands):
        keys = bands[depth]
        columns = (len(keys) + ROWS_PER_COLUMN - 1) // ROWS_PER_COLUMN
        for index, key in enumerate(keys):
            column, row = divmod(index, ROWS_PER_COLUMN)
            position[key] = (x + column * (NODE_WIDTH + WRAP_GAP),
                             MARGIN + row * (NODE_HEIGHT + ROW_GAP))
        x += columns * (NODE_WIDTH + WRAP_GAP) - WRAP_GAP + COLUMN_GAP
    return position


def render_graph_svg(graph: ExplorerGraph, href: Callable[[EntityKey], str]) -> str:
    position = _positions(graph)
    nodes = {node.key: node for node in graph.nodes}
    names = graph.names()
    width = max((x for x, _ in position.values()), default=MARGIN) + NODE_WIDTH + MARGIN
    height = max((y for _, y in position.values()), default=MARGIN) + NODE_HEIGHT + MARGIN

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Relationship graph of {escape(str(graph.root))}" '
        'font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for edge in graph.edges:
        if edge.subject not in position or edge.object not in position:
            continue
        (x1, y1), (x2, y2) = position[edge.subject], position[edge.object]
        y1, y2 = y1 + NODE_HEIGHT // 2, y2 + NODE_HEIGHT // 2
        if x2 > x1:  # left to right: right side of the subject to left side of the object
            start, end = (x1 + NODE_WIDTH, y1), (x2, y2)
        elif x2 < x1:
            start, end = (x1, y1), (x2 + NODE_WIDTH, y2)
        else:  # same column: both on the right side
            start, end = (x1 + NODE_WIDTH, y1), (x2 + NODE_WIDTH, y2)
        colour = "#b45309" if edge.origin == "manual" else "#555"
        mid_x, mid_y = (start[0] + end[0]) // 2, (start[1] + end[1]) // 2
        parts.append(
            f'<line x1="{start[0]}" y1="{start[1]}" x2="{end[0]}" y2="{end[1]}" '
            f'stroke="{colour}" stroke-width="1.4" marker-end="url(#arrow)"/>'
            f'<text x="{mid_x}" y="{mid_y - 4}" text-anchor="middle" fill="{colour}">'
            f'{escape(edge.label)}</text>'
        )
    for key, (x, y) in position.items():
        resolved = nodes[key].resolved
        fill = "#dbeafe" if key == graph.root else ("#f8fafc" if resolved else "#fff7ed")
        dash = "" if resolved else ' stroke-dasharray="4 3"'
        label = names.get(key) or str(key)
        if len(label) > 28:
            label = label[:27] + "…"
        box = (f'<title>{escape(str(key))} {escape(names.get(key, ""))}'
               f'{"" if resolved else " (not yet in the catalog)"}</title>'
               f'<rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6" '
               f'fill="{fill}" stroke="#334155"{dash}/>'
               f'<text x="{x + NODE_WIDTH // 2}" y="{y + NODE_HEIGHT // 2 + 4}" '
               f'text-anchor="middle">{escape(label)}</text>')
        parts.append(f'<a href="{escape(href(key))}">{box}</a>' if resolved
                     else f"<g>{box}</g>")
    parts.append("</svg>")
    return "".join(parts)
