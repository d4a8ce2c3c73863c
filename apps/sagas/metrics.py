"""Prometheus metrics of the saga engine (served on the worker's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TRANSITIONS = Counter("dictamesh_saga_transitions", "Saga state transitions, by the state "
                      "entered.", ["definition", "state"])
STEP_SECONDS = Histogram("dictamesh_saga_step_seconds", "Duration of one step attempt "
                         "(source call included).", ["definition", "step", "phase", "outcome"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
COMPENSATIONS = Counter("dictamesh_saga_compensations", "Compensations that completed, by "
                        "step.", ["definition", "step"])
NEEDS_ATTENTION = Gauge("dictamesh_sagas_needs_attention", "Sagas parked in NEEDS_ATTENTION, "
                        "as the last recovery sweep counted them.", ["tenant"])
