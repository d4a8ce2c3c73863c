"""Relationship-graph traversal over 1,000,000 relationships: p50/p99 at depth 3 and 5.

Baseline, same run: the breadth-first walk an ORM user would write (one indexed query per
node and direction), on the same start nodes at depth 3. Target: p50 < 20 ms at depth 3.

    .venv/bin/python bench/bench_catalog_graph.py [--relationships-scale 1.0] [--samples 200]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator

from _support import progress, setup_django, summary, throwaway_tenant, time_calls


def naive_walk(entity_type: str, entity_id: str, depth: int, both: bool) -> int:
    from apps.catalog.models import EntityRelationship

    seen = {(entity_type, entity_id)}
    frontier = [(entity_type, entity_id)]
    for _ in range(depth):
        next_frontier = []
        for node_type, node_id in frontier:
            neighbours = list(EntityRelationship.objects.filter(
                subject_entity_type=node_type, subject_entity_id=node_id,
                retired_at__isnull=True).values_list("object_entity_type", "object_entity_id"))
            if both:
                neighbours += EntityRelationship.objects.filter(
                    object_entity_type=node_type, object_entity_id=node_id,
                    retired_at__isnull=True).values_list("subject_entity_type",
                                                         "subject_entity_id")
            for neighbour in neighbours:
                if neighbour not in seen:
                    seen.add(neighbour)
                    next_frontier.append(neighbour)
        frontier = next_frontier
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relationships-scale", type=float, default=1.0,
                        help="1.0 = 1,000,000 relationships")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    setup_django()
    from catalog_graph_generator import load_graph

    from apps.catalog import services

    scale = args.relationships_scale
    shape = {"invoices": int(190_000 * scale), "customers": int(50_000 * scale),
             "products": max(100, int(10_000 * scale)), "same_as": int(50_000 * scale)}
    with throwaway_tenant("bench_graph"):
        progress("generating the graph")
        started = time.perf_counter()
        edges = load_graph(**shape)
        print(f"graph: {edges:,} relationships loaded in {time.perf_counter() - started:.1f} s")

        rng = random.Random(11)
        invoices = [f"INV-{rng.randrange(shape['invoices']):07d}" for _ in range(args.samples)]
        customers = [str(rng.randrange(shape["customers"])) for _ in range(args.samples)]
        cases = [
            ("invoice, outgoing", "invoice", invoices, "outgoing"),
            ("customer, both directions", "customer", customers, "both"),
        ]
        p50_depth3: dict[str, float] = {}
        for label, entity_type, ids, direction in cases:
            for depth in (3, 5):
                it = iter(ids)
                sizes: list[int] = []

                def walk(entity_type=entity_type, direction=direction, depth=depth, it=it,
                         sizes=sizes) -> None:
                    graph = services.query_relationship_graph(
                        entity_type, next(it), direction=direction, max_depth=depth)
                    sizes.append(len(graph.nodes))

                samples = time_calls(walk, len(ids))
                print(f"{label:<27} depth {depth}: {summary(samples)}  "
                      f"nodes/answer median {sorted(sizes)[len(sizes) // 2]}")
                if depth == 3:
                    p50_depth3[label] = sorted(samples)[len(samples) // 2]

        for label, entity_type, ids, direction in cases:
            starts = iter(ids[:50])

            def baseline_walk(entity_type: str = entity_type, direction: str = direction,
                              starts: Iterator[str] = starts) -> None:
                naive_walk(entity_type, next(starts), 3, both=direction == "both")

            baseline = time_calls(baseline_walk, 50)
            base_p50 = sorted(baseline)[25]
            print(f"baseline per-node ORM walk, {label}, depth 3: {summary(baseline)}")
            print(f"ratio (baseline p50 / recursive CTE p50), {label}: "
                  f"{base_p50 / p50_depth3[label]:.1f}x")
        worst = max(p50_depth3.values())
        verdict = "meets" if worst < 20 else "MISSES"
        print(f"target p50 < 20 ms at depth 3: worst p50 {worst:.2f} ms, {verdict} the target")


if __name__ == "__main__":
    main()
