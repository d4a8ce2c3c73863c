"""`python -m devtools.reference`: the reference sources in the foreground."""

from __future__ import annotations

import argparse
import threading

from devtools.reference.dataset import Sizes
from devtools.reference.launcher import LOCAL_PORTS, SOURCE_NAMES, start_reference_sources
from dictamesh.stop_signals import stop_on_signals

READY_LINE = "Reference sources ready; Ctrl-C stops them."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.reference",
        description="Run the Directus, products, e-commerce and suppliers reference servers "
                    "until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    for name in SOURCE_NAMES:
        parser.add_argument(f"--{name}-port", type=int, default=LOCAL_PORTS[name],
                            help=f"(default: {LOCAL_PORTS[name]}; 0 for a free port)")
    parser.add_argument("--seed", type=int, default=42)
    defaults = Sizes()
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--invoices", type=int, default=defaults.invoices)
    args = parser.parse_args(argv)
    try:
        sizes = Sizes(customers=args.customers, products=args.products, invoices=args.invoices)
    except ValueError as exc:
        parser.error(str(exc))

    # Handlers go in before anything starts: a signal that arrives while the servers start or
    # the banner prints must stop us cleanly, not raise KeyboardInterrupt mid-print. A person
    # stops us with Ctrl-C, a supervisor (the dev stack) with SIGTERM.
    stopping = threading.Event()
    with stop_on_signals(stopping):
        try:
            sources = start_reference_sources(
                seed=args.seed, sizes=sizes, host=args.host,
                ports={name: getattr(args, f"{name}_port") for name in SOURCE_NAMES})
        except OSError as exc:  # typically a port already in use
            parser.exit(1, f"Cannot start the reference sources: {exc}\n")
        try:
            print(f"Reference sources (seed {args.seed}, {sizes.customers} customers, "
                  f"{sizes.products} products, {sizes.invoices} invoices):", flush=True)
            print(sources.describe(), flush=True)
            # The last line of the banner; scripts and tests wait for it before signalling us.
            print(READY_LINE, flush=True)
            stopping.wait()
        finally:
            sources.stop()
            print("Reference sources stopped.", flush=True)


if __name__ == "__main__":
    main()
