from django.contrib import admin
from django_tenants.admin import TenantAdminMixin

from apps.tenancy.models import Domain, Tenant


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("schema_name", "name", "created_at")
    search_fields = ("schema_name", "name")
    readonly_fields = ("schema_name", "created_at")
    inlines = [DomainInline]

    def has_add_permission(self, request):  # schemas are created by onboard_tenant only
        return False


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")
    search_fields = ("domain", "tenant__schema_name")
