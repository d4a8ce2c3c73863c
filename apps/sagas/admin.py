"""Sagas in the Django admin (tenant hosts only: the tables live in tenant schemas).

Operators find sagas by state, definition and age, read a saga's step timeline, and resume,
retry or abort it. Saga rows are never edited by hand: every action goes through the sagas
service, which keeps the state machine, the step log and the outbox event in step.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from apps.sagas import services
from apps.sagas.contracts import SagaError, SagaState, SagaView
from apps.sagas.models import SagaInstance, SagaStepLog
from dictamesh.admin import ReadOnlyAdmin

#: operator actions by name: the service that performs them, what the button says
OPERATIONS: dict[str, tuple[Callable[[str], SagaView], str]] = {
    "resume": (services.resume_saga, "Resume"),
    "retry": (services.retry_step, "Retry the current step"),
    "abort": (services.abort_saga, "Abort (compensate)"),
}
#: who may operate sagas: those who may change them (superusers, or granted the permission)
OPERATE_PERMISSION = "sagas.change_sagainstance"


class AgeFilter(admin.SimpleListFilter):
    """How long ago a saga started: recent ones, or old ones that may be stuck."""

    title = "age"
    parameter_name = "age"
    BUCKETS = {"1h": ("less than an hour", timedelta(hours=1), True),
               "1d": ("less than a day", timedelta(days=1), True),
               "7d": ("less than a week", timedelta(days=7), True),
               "old": ("a week or more", timedelta(days=7), False)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, label) for value, (label, _, _) in self.BUCKETS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        bucket = self.BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        _, span, younger = bucket
        since = timezone.now() - span
        return queryset.filter(created_at__gte=since) if younger else \
            queryset.filter(created_at__lt=since)


class StepLogInline(admin.TabularInline):
    """The step timeline, oldest first: one row per ended attempt (append-only)."""

    model = SagaStepLog
    verbose_name = "step attempt"
    verbose_name_plural = "step timeline"
    fields = ("step", "phase", "attempt", "outcome", "started_at", "ended_at", "took",
              "error")
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    can_delete = False

    @admin.display(description="took")
    def took(self, row: SagaStepLog) -> str:
        return f"{(row.ended_at - row.started_at).total_seconds():.3f} s"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _operate(request: HttpRequest, operation: str, saga_ids: list[str]) -> None:
    """Run ``operation`` on each saga, telling the operator what became of each."""
    perform, _ = OPERATIONS[operation]
    for saga_id in saga_ids:
        try:
            saga = perform(saga_id)
        except SagaError as exc:
            messages.error(request, f"Saga {saga_id}: {operation} refused: {exc}")
        else:
            messages.success(request, f"Saga {saga.id}: {operation} accepted; it is now "
                                      f"{saga.state.value}.")


@admin.register(SagaInstance)
class SagaInstanceAdmin(ReadOnlyAdmin):
    list_display = ("id", "definition", "definition_version", "state", "phase", "attempt",
                    "created_at", "updated_at", "short_error")
    list_filter = ("state", "definition", AgeFilter)
    search_fields = ("idempotency_key",)
    ordering = ("-created_at", "-id")
    fields = ("id", "definition", "definition_version", "state", "current_step", "phase",
              "attempt", "deadline", "error", "idempotency_key", "trace_id", "created_at",
              "updated_at", "pretty_input", "pretty_outputs")
    readonly_fields = fields
    inlines = [StepLogInline]
    actions = ["resume_selected", "retry_selected", "abort_selected"]
    show_full_result_count = False  # COUNT(*) over every saga on each page is wasteful

    @admin.display(description="error")
    def short_error(self, obj: SagaInstance) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:79] + "…"

    @admin.display(description="current step")
    def current_step(self, obj: SagaInstance) -> str:
        return _view(obj).current_step or "-"

    @admin.display(description="trace id")
    def trace_id(self, obj: SagaInstance) -> str:
        return _view(obj).trace_id or "-"

    @admin.display(description="input")
    def pretty_input(self, obj: SagaInstance) -> str:
        return _pretty(obj.input)

    @admin.display(description="step outputs")
    def pretty_outputs(self, obj: SagaInstance) -> str:
        return _pretty(obj.outputs)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet,
                           search_term: str) -> tuple[QuerySet, bool]:
        """Search idempotency keys, and a saga id pasted whole (from a log or an API
        answer)."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        try:
            saga_id = uuid.UUID(search_term.strip())
        except ValueError:  # not a saga id: idempotency keys only
            return results, duplicates
        results = results | queryset.filter(pk=saga_id)
        return results, duplicates

    # -- operator actions: the changelist's actions and the detail page's buttons -------

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OPERATE_PERMISSION)

    @admin.action(description="Resume selected sagas", permissions=["operate"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _operate(request, "resume", _ids(queryset))

    @admin.action(description="Retry the current step of selected sagas",
                  permissions=["operate"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _operate(request, "retry", _ids(queryset))

    @admin.action(description="Abort selected sagas (compensate their steps)",
                  permissions=["operate"])
    def abort_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _operate(request, "abort", _ids(queryset))

    def get_urls(self) -> list[URLPattern]:
        operate = self.admin_site.admin_view(require_POST(self.operate_view))
        return [path("<path:object_id>/operate/<str:operation>/", operate,
                     name="sagas_sagainstance_operate"), *super().get_urls()]

    def operate_view(self, request: HttpRequest, object_id: str,
                     operation: str) -> HttpResponse:
        """A detail page button: one operation on one saga, then back to its page."""
        if operation not in OPERATIONS or not self.has_operate_permission(request):
            messages.error(request, f"You may not {operation} sagas here: operating sagas "
                                    f"needs the {OPERATE_PERMISSION!r} permission.")
        else:
            _operate(request, operation, [object_id])
        return HttpResponseRedirect(
            reverse("admin:sagas_sagainstance_change", args=[object_id]))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = dict(extra_context or {})
        saga = self.get_object(request, object_id)
        if saga is not None and self.has_operate_permission(request) \
                and not SagaState(saga.state).is_final:
            context["operations"] = [
                (label, reverse("admin:sagas_sagainstance_operate", args=[object_id, name]))
                for name, (_, label) in OPERATIONS.items()]
        return super().change_view(request, object_id, form_url, extra_context=context)


def _view(obj: SagaInstance) -> SagaView:
    """The service's view of the saga (step names and trace ids are the engine's to
    derive), read once per page."""
    view = getattr(obj, "_service_view", None)
    if view is None:
        view = services.get_saga(str(obj.id), with_timeline=False)
        obj._service_view = view  # type: ignore[attr-defined]
    return view


def _ids(queryset: QuerySet) -> list[str]:
    return [str(pk) for pk in queryset.values_list("pk", flat=True)]


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True,
                                                   ensure_ascii=False, default=str))
