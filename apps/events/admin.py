"""The outbox in the Django admin (tenant hosts only: the table lives in tenant schemas),
read-only: operators look at what waits to be sent and why it failed."""

from __future__ import annotations

from django.contrib import admin

from apps.events.models import OutboxMessage
from dictamesh.admin import ReadOnlyAdmin


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "topic", "key", "created_at", "sent_at", "attempts", "last_error")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), "topic")
    search_fields = ("key", "=event_id")
    exclude = ("value",)
