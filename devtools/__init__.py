"""Development and test tooling, never installed with the product.

The local stack (`python -m devtools.stack`, what `make run` runs), the development broker
launcher (`python -m devtools.broker`), the reference source servers (`devtools.reference`)
and the demo setup the local stack performs. Nothing under `apps/`, `dictamesh/` or `config/`
imports from here; `pyproject.toml` leaves this package out of the wheel and the Dockerfile
does not copy it. It is imported from a checkout's root (tests, benchmarks, `make run`).
"""
