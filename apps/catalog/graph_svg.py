"""Draw a relationship graph as an SVG picture for the admin, server-side (no scripts, no
CDN): nodes in columns by their distance from the root, edges as labelled arrows."""

from __future__ import annotations

from html import escape

from apps.catalog.contracts import EntityKey, RelationshipGraph

NODE_WIDTH = 190
NODE_HEIGHT = 34
COLUMN_GAP = 120
ROW_GAP = 22
MARGIN = 20
MAX_NODES_DRAWN = 120  # beyond this a picture stops being readable; the table lists all


def render_graph_svg(graph: RelationshipGraph) -> str:
    columns: dict[int, list[EntityKey]] = {}
    resolved: dict[EntityKey, bool] = {}
    for node in graph.nodes[:MAX_NODES_DRAWN]:
        columns.setdefault(node.depth, []).append(node.key)
        resolved[node.key] = node.resolved
    position: dict[EntityKey, tuple[int, int]] = {}
    for depth, keys in columns.items():
        for row, key in enumerate(keys):
            position[key] = (MARGIN + depth * (NODE_WIDTH + COLUMN_GAP),
                             MARGIN + row * (NODE_HEIGHT + ROW_GAP))
    width = MARGIN * 2 + max(columns, default=0) * (NODE_WIDTH + COLUMN_GAP) + NODE_WIDTH
    height = MARGIN * 2 + max((len(k) for k in columns.values()), default=1) * (
        NODE_HEIGHT + ROW_GAP)

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
            f'{escape(edge.relationship_type)}</text>'
        )
    for key, (x, y) in position.items():
        is_root = key == graph.root
        fill = "#dbeafe" if is_root else ("#f8fafc" if resolved[key] else "#fff7ed")
        dash = "" if resolved[key] else ' stroke-dasharray="4 3"'
        label = str(key)
        if len(label) > 28:
            label = label[:27] + "…"
        parts.append(
            f'<g><title>{escape(str(key))}'
            f'{"" if resolved[key] else " (not yet in the catalog)"}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6" '
            f'fill="{fill}" stroke="#334155"{dash}/>'
            f'<text x="{x + NODE_WIDTH // 2}" y="{y + NODE_HEIGHT // 2 + 4}" '
            f'text-anchor="middle">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
