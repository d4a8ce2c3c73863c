"""The sagas app's tables, in each tenant's schema: saga instances and their step log.

Only this app reads them; other apps go through ``services.py``.
"""

from __future__ import annotations

import uuid

from django.db import models

from apps.sagas.contracts import SagaState, StepOutcome, StepPhase


class SagaInstance(models.Model):
    """One run of one saga definition: where it is, what its steps returned.

    ``version`` is bumped on every write: a writer that read an older version lost a race.
    ``claim`` is set while a worker runs the current step; ``deadline`` is when that
    attempt (or a pending retry) is overdue, which the recovery task looks for.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    definition = models.CharField(max_length=100)
    definition_version = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=[(s.value, s.value) for s in SagaState],
                             default=SagaState.PENDING.value)
    input = models.JSONField()
    outputs = models.JSONField(default=dict)
    step_index = models.IntegerField(default=0)
    phase = models.CharField(max_length=20, choices=[(p.value, p.value) for p in StepPhase],
                             default=StepPhase.ACTION.value)
    attempt = models.PositiveIntegerField(default=0)
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    input_digest = models.CharField(max_length=64)
    traceparent = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = "saga_instance"
        indexes = [
            models.Index(fields=["state", "deadline"], name="saga_state_deadline"),
            models.Index(fields=["-created_at", "-id"], name="saga_newest_first"),
            models.Index(fields=["definition", "state"], name="saga_definition_state"),
        ]

    def __str__(self) -> str:
        return f"{self.definition} {self.id} ({self.state})"


class SagaStepLog(models.Model):
    """One ended attempt of one step; append-only (a trigger refuses UPDATE and DELETE)."""

    saga = models.ForeignKey(SagaInstance, on_delete=models.PROTECT, related_name="step_log",
                             db_constraint=True)
    step = models.CharField(max_length=100)
    phase = models.CharField(max_length=20, choices=[(p.value, p.value) for p in StepPhase])
    attempt = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    outcome = models.CharField(max_length=20,
                               choices=[(o.value, o.value) for o in StepOutcome])
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "saga_step_log"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.step} {self.phase} #{self.attempt}: {self.outcome}"
