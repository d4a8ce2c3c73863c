"""The curator's forms for relationships: adding one (both ends with autocomplete, an end
the catalog has never seen only when confirmed) and retiring some, each with a reason."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse_lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.catalog.contracts import EntityKey
from apps.catalog.models import EntityCatalog, EntityRelationship

REASON_HELP = "Why: kept with who and when in the audit log and in lineage."


def parse_key(value: str) -> EntityKey:
    """ "type:id" (the id may hold colons) as an entity key, or a ValidationError."""
    entity_type, separator, entity_id = value.strip().partition(":")
    if not separator or not entity_type.strip() or not entity_id:
        raise forms.ValidationError(
            f"Name the entity as type:id, e.g. customer:42 (got {value!r}).")
    return EntityKey(entity_type.strip(), entity_id)


class EntityKeyInput(forms.TextInput):
    """A type:id field whose suggestions come from the catalog as the curator types."""

    def __init__(self, name: str) -> None:
        super().__init__(attrs={
            "list": f"{name}-suggestions", "autocomplete": "off", "size": 40,
            "placeholder": "type:id, or search a name or an email",
            "data-lookup-url": reverse_lazy("admin:catalog_entitycatalog_lookup"),
            "class": "entity-key-input"})

    def render(self, name: str, value: Any, attrs: Any = None,
               renderer: Any = None) -> SafeString:
        field = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="{}-suggestions"></datalist>', field, name)


class AddRelationshipForm(forms.ModelForm):
    subject = forms.CharField(max_length=360, widget=EntityKeyInput("subject"))
    object = forms.CharField(max_length=360, widget=EntityKeyInput("object"))
    reason = forms.CharField(max_length=500, help_text=REASON_HELP,
                             widget=forms.TextInput(attrs={"size": 60}))
    confirm_unknown = forms.BooleanField(
        required=False, label="Add it even if the catalog has never seen an end",
        help_text="An edge may name an entity before its source sends it; tick this when "
                  "that is what you mean.")

    class Meta:
        model = EntityRelationship
        fields = ("relationship_type",)

    class Media:
        js = ("catalog/explorer/entity_lookup.js",)

    def clean_subject(self) -> EntityKey:
        return parse_key(self.cleaned_data["subject"])

    def clean_object(self) -> EntityKey:
        return parse_key(self.cleaned_data["object"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        ends = [cleaned[name] for name in ("subject", "object") if name in cleaned]
        unknown = [key for key in ends if not EntityCatalog.objects.filter(
            entity_type=key.entity_type, entity_id=key.entity_id).exists()]
        if unknown and not cleaned.get("confirm_unknown"):
            raise forms.ValidationError(
                "The catalog has never seen %(names)s. Check the spelling, or tick "
                "\u201cAdd it even if the catalog has never seen an end\u201d.",
                code="unknown_entity", params={"names": ", ".join(map(str, unknown))})
        return cleaned


class RetireForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text=REASON_HELP,
                             widget=forms.TextInput(attrs={"size": 60, "autofocus": True}))
