from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "apps.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        post_save.connect(_audit_admin_change, sender=LogEntry,
                          dispatch_uid="tenancy.audit_admin_change")


_ADMIN_ACTIONS = {1: "admin.added", 2: "admin.changed", 3: "admin.deleted"}


def _audit_admin_change(sender: Any, instance: Any, created: bool, **_: Any) -> None:
    """Every change made in an admin (platform or tenant host) is an audit entry too."""
    if not created:
        return
    from apps.tenancy.audit import record_audit

    content_type = instance.content_type
    record_audit(_ADMIN_ACTIONS.get(instance.action_flag, "admin.changed"),
                 object_type=content_type.model if content_type else "",
                 object_id=instance.object_id or "", actor=instance.user.get_username(),
                 after=instance.change_message or None,
                 detail={"object": instance.object_repr,
                         "change": instance.get_change_message()})
