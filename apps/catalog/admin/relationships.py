"""Relationships in the admin: curators add edges and retire them, always with a reason;
both go through the catalog's services, which record them in lineage and the audit log.
An edge is never edited or deleted: retired, it stays in the history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from apps.catalog import services
from apps.catalog.admin.explorer_views import entity_url
from apps.catalog.admin.relationship_forms import AddRelationshipForm, RetireForm
from apps.catalog.contracts import EntityKey, Relationship
from apps.catalog.models import EntityRelationship
from apps.tenancy.services import AuditFilter, audit_entries
from dictamesh.admin import TenantOnlyAdmin
from dictamesh.tenancy import current_schema

_SHOWN = ("subject_link", "relationship_type", "object_link", "origin", "source_system",
          "created_by", "created_at", "retired_at", "retired_by")


@admin.register(EntityRelationship)
class EntityRelationshipAdmin(TenantOnlyAdmin):
    form = AddRelationshipForm
    list_display = ("__str__", "relationship_type", "origin", "created_at", "retired_at")
    list_filter = ("relationship_type", "origin", ("retired_at", admin.EmptyFieldListFilter))
    search_fields = ("subject_entity_id", "object_entity_id")
    actions = ["retire_selected"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("subject", "relationship_type", "object", "reason", "confirm_unknown")
        return _SHOWN

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else _SHOWN

    @admin.display(description="subject")
    def subject_link(self, obj: EntityRelationship) -> str:
        key = EntityKey(obj.subject_entity_type, obj.subject_entity_id)
        return format_html('<a href="{}">{}</a>', entity_url(key), key)

    @admin.display(description="object")
    def object_link(self, obj: EntityRelationship) -> str:
        key = EntityKey(obj.object_entity_type, obj.object_entity_id)
        return format_html('<a href="{}">{}</a>', entity_url(key), key)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An edge is never edited (its page has no Save): curators with the change
        # permission retire it instead, from its page or the list.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retire instead: the edge stays in the history

    def save_model(self, request: HttpRequest, obj: EntityRelationship, form: Any,
                   change: bool) -> None:
        subject, object_ = form.cleaned_data["subject"], form.cleaned_data["object"]
        # The ends are the form's own fields: set them so the admin's messages and its
        # change log name the edge.
        obj.subject_entity_type, obj.subject_entity_id = subject.entity_type, subject.entity_id
        obj.object_entity_type, obj.object_entity_id = object_.entity_type, object_.entity_id
        relationship = Relationship(subject, obj.relationship_type, object_,
                                    source_system="curation")
        edge = services.add_manual_relationship(relationship,
                                                curator=request.user.get_username(),
                                                reason=form.cleaned_data["reason"])
        if edge is None:
            messages.warning(request, "That relationship exists already; nothing was added.")
            obj.pk = EntityRelationship.objects.values_list("pk", flat=True).get(
                subject_entity_type=subject.entity_type, subject_entity_id=subject.entity_id,
                relationship_type=obj.relationship_type,
                object_entity_type=object_.entity_type, object_entity_id=object_.entity_id,
                retired_at__isnull=True)
        else:
            obj.pk = edge.id

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = dict(extra_context or {})
        edge = self.get_object(request, object_id)
        if edge is not None:
            context.update(
                may_retire=edge.retired_at is None and self.has_change_permission(request),
                retire_url=reverse("admin:catalog_entityrelationship_retire") + f"?ids={edge.pk}",
                audit_trail=audit_entries(AuditFilter(
                    tenant=current_schema(), object_type="relationship",
                    object_ids=(str(edge.pk),))))
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.action(description="Retire selected relationships…", permissions=["change"])
    def retire_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:catalog_entityrelationship_retire")
                                    + f"?ids={ids}")

    def get_urls(self) -> list[URLPattern]:
        return [path("retire/", self.admin_site.admin_view(self.retire_view),
                     name="catalog_entityrelationship_retire"), *super().get_urls()]

    def retire_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for the reason, then retire the active edges among ``ids``."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        raw_ids = (request.POST if request.method == "POST" else request.GET).get("ids", "")
        ids = [int(part) for part in raw_ids.split(",") if part.strip().isdigit()]
        edges = list(EntityRelationship.objects.filter(pk__in=ids, retired_at__isnull=True)
                     .order_by("pk"))
        form = RetireForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and edges and form.is_valid():
            curator = request.user.get_username()
            retired = sum(services.retire_relationship(edge.pk, curator=curator,
                                                       reason=form.cleaned_data["reason"])
                          for edge in edges)
            self.message_user(request, f"Retired {retired} relationship(s).")
            if len(edges) == 1:
                return HttpResponseRedirect(reverse("admin:catalog_entityrelationship_change",
                                                    args=[edges[0].pk]))
            return HttpResponseRedirect(reverse("admin:catalog_entityrelationship_changelist"))
        return TemplateResponse(request, "admin/catalog/entityrelationship/retire.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": "Retire relationships", "edges": edges, "form": form,
            "ids": ",".join(str(edge.pk) for edge in edges),
        })
