from typing import Any

from django.apps import AppConfig


def _forget_offboarded_tenant(sender: Any, slug: str, **kwargs: Any) -> None:
    from apps.catalog.schema_registry import services

    services.delete_tenant_subjects(slug)


class SchemaRegistryConfig(AppConfig):
    name = "apps.catalog.schema_registry"
    label = "schema_registry"
    verbose_name = "Schema registry"

    def ready(self) -> None:
        from apps.tenancy.services import tenant_offboarded

        tenant_offboarded.connect(_forget_offboarded_tenant,
                                  dispatch_uid="schema-registry-tenant-subjects")
