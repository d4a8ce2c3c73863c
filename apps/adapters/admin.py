"""Source connections in the admin (tenant hosts): credentials are write-only."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.adapters import services
from apps.adapters.declarative.description import DescriptionError
from apps.adapters.declarative.store import probe_declared
from apps.adapters.description_admin import SourceDescriptionAdmin
from apps.adapters.models import SourceConnection
from apps.adapters.registry import adapter_names
from dictamesh.admin import TenantOnlyAdmin
from dictamesh.health.redact import redact_userinfo

__all__ = ["SourceConnectionAdmin", "SourceDescriptionAdmin"]

#: characters of a health detail shown in the connection list (the form shows all of it)
HEALTH_DETAIL_CHARS = 300


class SourceConnectionForm(forms.ModelForm):
    adapter = forms.ChoiceField(choices=())
    base_url = forms.URLField(max_length=500, assume_scheme="https")
    new_credentials = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text='JSON object, e.g. {"token": "...", "webhook_secret": "..."}. Stored '
                  "encrypted and never shown again; leave empty to keep the current ones.")

    class Meta:
        model = SourceConnection
        fields = ("name", "adapter", "base_url", "options", "polling_interval_seconds",
                  "enabled", "declared_freshness_seconds", "declared_availability")
        help_texts = {"options": (
            'JSON object, e.g. {"deletion_check_every_polls": 5}: a deletion at the source '
            "shows within that many polling intervals (0: only the hourly reconcile). Each "
            "adapter's own options are in docs/sources.md.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        adapter_field = self.fields["adapter"]
        assert isinstance(adapter_field, forms.ChoiceField)
        adapter_field.choices = [(key, key) for key in adapter_names()]

    def clean_new_credentials(self) -> dict[str, str] | None:
        raw = self.cleaned_data["new_credentials"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("Give a JSON object of text values.")
        return value

    def clean(self) -> dict[str, Any]:
        """A described source is probed live with these settings before they are saved."""
        cleaned = super().clean() or {}
        if not self.errors:
            # The instance gets the form's values only after clean(): probe a copy.
            connection = SourceConnection(
                name=cleaned["name"], adapter=cleaned["adapter"], base_url=cleaned["base_url"],
                options=cleaned.get("options") or {}, enabled=cleaned.get("enabled", False),
                credentials_encrypted=self.instance.credentials_encrypted)
            credentials = cleaned.get("new_credentials")
            if credentials is not None:
                connection.set_credentials(credentials)
            try:
                probe_declared(connection)
            except DescriptionError as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned

    def save(self, commit: bool = True) -> SourceConnection:
        connection: SourceConnection = super().save(commit=False)
        credentials = self.cleaned_data.get("new_credentials")
        if credentials is not None:
            connection.set_credentials(credentials)
        if commit:
            connection.save()
        return connection


@admin.register(SourceConnection)
class SourceConnectionAdmin(TenantOnlyAdmin):
    form = SourceConnectionForm
    list_display = ("name", "adapter", "source_url", "enabled", "health",
                    "health_checked_at", "last_polled_at", "last_poll_error")
    list_filter = ("adapter", "enabled", "health_state")
    readonly_fields = ("credential_names", "change_cursor", "last_polled_at", "last_webhook_at",
                       "last_poll_error", "health_state", "health_detail", "health_checked_at")
    actions = ["check_health", "poll_now"]

    @admin.display(description="base URL", ordering="base_url")
    def source_url(self, obj: SourceConnection) -> str:
        return redact_userinfo(obj.base_url)  # credentials belong in the credentials field

    @admin.display(description="health", ordering="health_state")
    def health(self, obj: SourceConnection) -> str:
        """The state, and why when it is not healthy (e.g. the field a drifted source
        lacks), so the list shows what to fix."""
        if obj.health_state in ("healthy", "unknown") or not obj.health_detail:
            return obj.health_state
        return f"{obj.health_state}: {redact_userinfo(obj.health_detail)[:HEALTH_DETAIL_CHARS]}"

    @admin.display(description="stored credentials")
    def credential_names(self, obj: SourceConnection) -> str:
        return ", ".join(sorted(obj.credentials)) or "none"

    @admin.action(description="Check the health of selected sources now")
    def check_health(self, request: HttpRequest, queryset: QuerySet) -> None:
        for connection in queryset:
            status = services.data_product_named(connection.name).check_health()
            self.message_user(request, f"{connection.name}: {status.state.value} "
                                       f"{status.detail}".strip(),
                              messages.SUCCESS if status.state.value == "healthy"
                              else messages.WARNING)

    @admin.action(description="Poll selected sources for changes now")
    def poll_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        from apps.adapters.tasks import poll_source

        for connection in queryset:
            poll_source.delay(connection.name)
        self.message_user(request, f"Queued a poll of {queryset.count()} source(s).")
