"""Source descriptions in the admin (tenant hosts): edited as YAML or JSON, checked and
probed live on save (errors name the field), each save a new version with its history."""

from __future__ import annotations

import json
from typing import Any

import yaml
from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join

from apps.adapters.declarative.description import DescriptionError
from apps.adapters.declarative.store import check_description, store_description
from apps.adapters.models import SourceConnection, SourceDescription
from dictamesh.admin import TenantOnlyAdmin


class SourceDescriptionForm(forms.ModelForm):
    text = forms.CharField(
        label="description", widget=forms.Textarea(attrs={"rows": 30, "cols": 100,
                                                          "style": "font-family: monospace"}),
        help_text="YAML or JSON: entity_type, domain, key, auth, list, get, by_ids, "
                  "pagination, changes, rate_limit, fields, relationships, sla (see the "
                  "README's declarative sources section). Saving probes the source of every "
                  "enabled connection that uses this description.")

    class Meta:
        model = SourceDescription
        fields = ("name",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["text"].initial = yaml.safe_dump(self.instance.spec, sort_keys=False)
            self.fields["name"].disabled = True  # connections name it

    def clean_text(self) -> Any:
        try:
            return yaml.safe_load(self.cleaned_data["text"])
        except yaml.YAMLError as exc:
            raise forms.ValidationError(f"Neither YAML nor JSON: {exc}") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "text" in cleaned and "name" in cleaned:
            try:
                check_description(cleaned["name"], cleaned["text"])
            except DescriptionError as exc:
                self.add_error("text", f"{exc.field}: {exc.message}" if exc.field
                               else exc.message)
        return cleaned

    def save(self, commit: bool = True) -> SourceDescription:
        """Stored as the next version (with its history row), not as a plain row save."""
        return store_description(self.cleaned_data["name"], self.cleaned_data["text"],
                                 saved_by=getattr(self, "user", "")).description


@admin.register(SourceDescription)
class SourceDescriptionAdmin(TenantOnlyAdmin):
    form = SourceDescriptionForm
    list_display = ("name", "entity_type", "version", "updated_at")
    readonly_fields = ("version", "history")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.user = request.user.get_username()  # type: ignore[attr-defined]
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Stored by the form's save (see there)."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any,
                     change: bool) -> None:
        """A description has no related rows to save."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A description in use would leave its connections without an adapter: delete or
        # repoint those first.
        if obj is not None and SourceConnection.objects.filter(adapter=obj.name).exists():
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="entity type")
    def entity_type(self, obj: SourceDescription) -> str:
        return str(obj.spec.get("entity_type", "")) if isinstance(obj.spec, dict) else ""

    @admin.display(description="versions")
    def history(self, obj: SourceDescription) -> str:
        return format_html_join(
            "\n", "<details><summary>v{} saved {} by {}</summary><pre>{}</pre></details>",
            ((v.version, v.saved_at, v.saved_by or "-", json.dumps(v.spec, indent=2))
             for v in obj.versions.all()))
