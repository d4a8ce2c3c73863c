"""Codec cost per message: AvroCodec.encode/decode against bare fastavro on the same record.

Baseline, same run: fastavro's schemaless_writer/reader with a pre-parsed schema, no
framing, no checks. The codec adds the Confluent header, a record validator before writing
and a structural scan before reading (what keeps hostile bytes from becoming wrong values
or a memory blow-up). Figures are the best of several rounds, in microseconds per message.

    .venv/bin/python bench/bench_codec.py [--payload-bytes 512] [--rounds 15]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import sys
import timeit
from collections.abc import Callable

from _support import ROOT

sys.path.insert(0, str(ROOT))

from fastavro import parse_schema, schemaless_reader, schemaless_writer  # noqa: E402

from dictamesh.events import ENTITY_CHANGE_EVENT, load_schema  # noqa: E402
from dictamesh.events.codec import AvroCodec, InMemorySchemaResolver  # noqa: E402

CALLS_PER_ROUND = 2000


def best_microseconds(
    baseline: Callable[[], object], ours: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Best round of each, alternating them so that a busy machine slows both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for index, call in enumerate((baseline, ours)):
            best[index] = min(best[index], timeit.timeit(call, number=CALLS_PER_ROUND))
    return best[0] / CALLS_PER_ROUND * 1e6, best[1] / CALLS_PER_ROUND * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payload-bytes", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    schema = load_schema(ENTITY_CHANGE_EVENT)
    record = {
        "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "event_type": "UPDATED",
        "timestamp": datetime.datetime(2025, 3, 1, 12, 30, tzinfo=datetime.UTC),
        "entity": {"type": "customer", "id": "directus:42", "version": 7},
        "tenant": "acme",
        "source": "directus",
        "changed_fields": ["email", "name", "tier"],
        "payload": json.dumps({"notes": "x" * args.payload_bytes}),
    }
    codec = AvroCodec(InMemorySchemaResolver())
    subject = "acme.customers.directus.entity_changed-value"
    data = codec.encode(subject, schema, record)
    parsed = parse_schema(schema)

    def raw_encode() -> bytes:
        out = io.BytesIO()
        schemaless_writer(out, parsed, record)
        return out.getvalue()

    def raw_decode() -> object:
        return schemaless_reader(io.BytesIO(data[5:]), parsed, None)

    rows = [
        ("encode", *best_microseconds(
            raw_encode, lambda: codec.encode(subject, schema, record), args.rounds)),
        ("decode", *best_microseconds(raw_decode, lambda: codec.decode(data), args.rounds)),
    ]
    print(f"EntityChangeEvent, {len(data)} bytes on the wire, best of {args.rounds} rounds")
    for name, raw, ours in rows:
        print(f"{name}:  fastavro {raw:6.2f} us   AvroCodec {ours:6.2f} us   "
              f"ratio {ours / raw:4.2f}x   ({1e6 / ours:,.0f} msg/s on one core)")


if __name__ == "__main__":
    main()
