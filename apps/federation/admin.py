"""Registered GraphQL documents in the Django admin (tenant hosts only).

Operators add a document by pasting its text: its SHA-256 is computed, and it is checked
against the API's schema before it is saved. A document's text is its identity (clients
send the hash), so a registered document is never edited: remove it and add the new one.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from apps.federation import persisted
from apps.federation.models import PersistedDocument
from apps.federation.schema import unified_schema
from dictamesh.admin import TenantOnlyAdmin


class PersistedDocumentForm(forms.ModelForm):
    class Meta:
        model = PersistedDocument
        fields = ("name", "document")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = cleaned.get("document")
        if text:
            try:
                persisted.check_document(cleaned.get("name") or "", text,
                                         unified_schema().graphql_schema)
            except persisted.InvalidDocument as exc:
                raise forms.ValidationError({"document": str(exc)}) from exc
        return cleaned


@admin.register(PersistedDocument)
class PersistedDocumentAdmin(TenantOnlyAdmin):
    form = PersistedDocumentForm
    list_display = ("name", "sha256", "registered_at")
    search_fields = ("name", "sha256", "document")
    readonly_fields = ("sha256", "registered_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Saved documents are read-only: their hash is what clients send.
        if obj is not None:
            return ("name", "sha256", "document", "registered_at")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: PersistedDocument, form: Any,
                   change: bool) -> None:
        obj.sha256 = persisted.sha256_of(obj.document)
        super().save_model(request, obj, form, change)
        persisted.forget_registered()

    def delete_model(self, request: HttpRequest, obj: PersistedDocument) -> None:
        super().delete_model(request, obj)
        persisted.forget_registered()

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        super().delete_queryset(request, queryset)
        persisted.forget_registered()
