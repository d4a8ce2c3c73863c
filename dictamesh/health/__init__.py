"""Liveness and readiness: `/healthz` says the process runs, `/readyz` checks dependencies.

Later layers register their own readiness checks (e.g. per source connection) with
:func:`dictamesh.health.checks.register_check`.
"""
