from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tenants.admin import TenantAdminMixin

from apps.tenancy.api_keys import revoke_api_key
from apps.tenancy.models import ApiKey, AuditEntry, Domain, Membership, Tenant
from dictamesh.admin import TenantScopedAdmin

# API keys are shown by prefix only: the secret is stored as a hash and cannot be shown.
# They are created with `manage.py create_api_key` (which prints the key once).
_KEY_FIELDS = ("prefix", "name", "scopes", "created_at", "last_used_at", "revoked_at")


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = _KEY_FIELDS
    readonly_fields = _KEY_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("schema_name", "name", "created_at")
    search_fields = ("schema_name", "name")
    readonly_fields = ("schema_name", "created_at")
    inlines = [DomainInline, ApiKeyInline]

    def has_add_permission(self, request):  # schemas are created by onboard_tenant only
        return False


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")
    search_fields = ("domain", "tenant__schema_name")


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Every tenant's keys on the public host; on a tenant host, that tenant's own keys,
    for its tenant admins."""

    list_display = ("prefix", "tenant", "name", "scopes", "created_at", "last_used_at",
                    "revoked_at")
    list_filter = ("tenant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "tenant__schema_name")
    fields = ("tenant", *_KEY_FIELDS)
    readonly_fields = ("tenant", *_KEY_FIELDS)
    actions = ["revoke"]

    def scope_to_tenant(self, queryset: QuerySet[ApiKey], schema: str) -> QuerySet[ApiKey]:
        return queryset.filter(tenant__schema_name=schema)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # revoked keys stay, as a record of who had access

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.select_related("tenant").filter(revoked_at__isnull=True))
        for key in keys:
            revoke_api_key(key.tenant.schema_name, key.prefix)
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """Who may use a tenant's admin, and as what. Members are added with
    `manage.py add_tenant_member` (users are platform objects, not listed to tenants)."""

    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "tenant__schema_name")
    fields = ("user", "tenant", "role", "created_at")
    readonly_fields = ("user", "tenant", "created_at")

    def scope_to_tenant(self, queryset: QuerySet[Membership],
                        schema: str) -> QuerySet[Membership]:
        return queryset.filter(tenant__schema_name=schema)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(TenantScopedAdmin):
    """The audit log, read-only (the database refuses changes anyway): every entry on the
    public host, a tenant's own on its host."""

    list_display = ("at", "tenant", "actor", "action", "object_type", "object_id", "origin",
                    "trace_id")
    list_filter = ("action", "tenant", "object_type", ("at", admin.DateFieldListFilter))
    search_fields = ("actor", "object_id", "trace_id", "action")
    date_hierarchy = "at"
    readonly_fields = ("at", "tenant", "actor", "action", "object_type", "object_id",
                       "origin", "before_digest", "after_digest", "detail", "trace_id")
    fields = readonly_fields

    def scope_to_tenant(self, queryset: QuerySet[AuditEntry],
                        schema: str) -> QuerySet[AuditEntry]:
        return queryset.filter(tenant=schema)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
