"""One name per source on every catalog page: the connection's (see
``provenance.source_label``), looked up once per source per list page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from apps.catalog import provenance


class NamesSources(admin.ModelAdmin):
    """A list whose rows have a ``source_system``, shown as the ``source`` column."""

    @admin.display(description="source", ordering="source_system")
    def source(self, obj: Any) -> str:
        return provenance.source_label(obj.source_system)

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        with provenance.remembering_sources():
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()  # while the sources are remembered
            return response
