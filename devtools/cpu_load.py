"""Keep CPU cores busy while something else runs, to prove it does not depend on an idle machine.

    python -m devtools.cpu_load --workers 1 -- make test

starts ``--workers`` processes that spin at normal priority, runs the command, stops them and
exits with the command's status. CI runs the test suite once this way: with the suite on one
core and a spinner on the other, a test that only passes on an idle machine (a timing window
too short, a sleep instead of a readiness signal) fails there rather than on a busy laptop.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time


def _spin(stop_at: float) -> None:
    value = 0
    while time.monotonic() < stop_at:
        for _ in range(100_000):  # check the clock now and then, not on every turn
            value = (value * 31 + 7) % 1_000_003


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="spinning processes (default 1)")
    parser.add_argument("--max-seconds", type=float, default=7200,
                        help="spinners stop by themselves after this long (default 2 h)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("give the command to run after --, e.g. -- make test")
    stop_at = time.monotonic() + options.max_seconds
    spinners = [multiprocessing.Process(target=_spin, args=(stop_at,), daemon=True)
                for _ in range(options.workers)]
    for spinner in spinners:
        spinner.start()
    print(f"cpu_load: {options.workers} spinning process(es) while `{' '.join(command)}` runs",
          flush=True)
    try:
        return subprocess.call(command)  # noqa: S603 - the operator's own command
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join(5)


if __name__ == "__main__":
    sys.exit(main())
