"""The admin site: who may enter it on which host, and which models each host shows.

- The public host's admin is for platform admins only.
- A tenant host's admin is for that tenant's members (and platform admins); anyone else
  signed in, e.g. with a session cookie from another tenant's host, gets 403 on every page.
- Models of the shared (public-schema) apps are platform objects, shown on the public host
  to platform admins only, unless their admin is tenant-scoped
  (``dictamesh.admin.TenantScopedAdmin``), which lists a tenant host's own rows only.
- Within a tenant, a member's role decides what it may view or change
  (``apps.tenancy.roles.TenantRoleBackend``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import HttpRequest

from apps.tenancy.models import Domain
from apps.tenancy.roles import is_platform_admin, may_enter_admin
from dictamesh.tenancy import current_schema, is_public

NOT_ALLOWED_HERE = (
    "This account may not use the admin of this host: a tenant's admin is for its members, "
    "the platform admin (the public host) for platform admins. Sign in at your tenant's host, "
    "or ask a tenant admin for a membership."
)


class MemberAuthenticationForm(AdminAuthenticationForm):
    """Refuses, at sign-in, a staff user who may not enter this host's admin."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not may_enter_admin(user, current_schema()):
            raise ValidationError(NOT_ALLOWED_HERE, code="not_a_member")


def _is_platform_model(model: type[Model], admin_class: type[admin.ModelAdmin]) -> bool:
    if getattr(admin_class, "tenant_scoped", False):
        return False
    app = model._meta.app_config
    return app is not None and app.name not in settings.TENANT_APPS


class PlatformOnlyAdmin(admin.ModelAdmin):
    """Mixed into the admin of every platform model by ``DictaMeshAdminSite.register``."""

    def _platform(self, request: HttpRequest) -> bool:
        return is_public() and is_platform_admin(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._platform(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._platform(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._platform(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._platform(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._platform(request) and super().has_delete_permission(request, obj)


class DictaMeshAdminSite(admin.AdminSite):
    login_form = MemberAuthenticationForm
    site_title = "DictaMesh"
    site_header = "DictaMesh"
    index_template = "admin/dictamesh_index.html"

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        models: Iterable[type[Model]] = (
            [model_or_iterable] if isinstance(model_or_iterable, type) else model_or_iterable)
        for model in models:
            cls = admin_class or admin.ModelAdmin
            if _is_platform_model(model, cls):
                # Default deny: a shared model whose admin does not scope itself by tenant
                # must not appear on a tenant host.
                cls = type(cls.__name__, (PlatformOnlyAdmin, cls), {})
            super().register(model, cls, **options)

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff) and may_enter_admin(
            user, current_schema())

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Any:
        inner = super().admin_view(view, cacheable)

        def refuse_other_tenants(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            # Django would send a signed-in user without access back to the login page
            # (200, a form); refuse plainly instead. Signing out stays possible.
            if (request.user.is_authenticated and not self.has_permission(request)
                    and not request.path.endswith("/logout/")):
                raise PermissionDenied(NOT_ALLOWED_HERE)
            return inner(request, *args, **kwargs)

        return refuse_other_tenants

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        context["site_header"] = ("DictaMesh platform" if is_public() else
                                  f"DictaMesh: {getattr(tenant, 'name', '') or current_schema()}")
        return context

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The public host's index also points platform admins at each tenant's admin."""
        context = dict(extra_context or {})
        if is_public() and is_platform_admin(request.user):
            context["tenant_admins"] = tenant_admin_links(request)
        return super().index(request, extra_context=context)


def tenant_admin_links(request: HttpRequest) -> list[dict[str, str]]:
    """Each tenant's admin address, at its primary domain on this request's scheme and
    port (so it works as well on a local run as behind the production proxy)."""
    port = request.get_port()
    suffix = "" if port in ("80", "443") else f":{port}"
    domains = (Domain.objects.filter(is_primary=True).select_related("tenant")
               .order_by("tenant__schema_name"))
    return [{"name": d.tenant.name or d.tenant.schema_name, "slug": d.tenant.schema_name,
             "url": f"{request.scheme}://{d.domain}{suffix}/admin/"}
            for d in domains if not is_public(d.tenant.schema_name)]


__all__ = ["DictaMeshAdminSite", "MemberAuthenticationForm", "PlatformOnlyAdmin"]
