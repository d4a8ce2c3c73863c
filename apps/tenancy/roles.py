"""Who may do what: platform admins, and members of a tenant with a role.

Users live in the public schema and belong to no tenant by themselves. A **platform admin**
(a superuser, or a user holding the ``tenancy.platform_admin`` permission directly or
through a group) administers the platform: tenants, domains, users, the global registry
configuration and every tenant's API keys. A **member** has one role in one tenant
(``Membership``): a viewer reads that tenant's objects, a curator also changes them, a
tenant admin also manages its API keys and members.

``TenantRoleBackend`` turns a member's role into Django permissions, evaluated in the
schema of the current request (django-tenants sets it from the host), so the same user has
its role's permissions on its tenant's host and none anywhere else.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.backends import BaseBackend, ModelBackend

from apps.tenancy.models import Membership, Role
from dictamesh.tenancy import current_schema, is_public

PLATFORM_PERMISSION = "tenancy.platform_admin"
_RANK = {Role.VIEWER: 0, Role.CURATOR: 1, Role.ADMIN: 2}
# Shared (public-schema) apps whose rows a tenant admin page shows per tenant: their
# admins filter by tenant (dictamesh.admin.TenantScopedAdmin). Labels -> the weakest role
# that may view them.
_SCOPED_SHARED_LABELS = {"schema_registry": Role.VIEWER, "tenancy": Role.ADMIN}
# Of the tenancy app, a tenant admin sees only these models (never tenants or domains).
_TENANCY_MODELS_FOR_TENANT_ADMINS = frozenset({"apikey", "membership"})
_ROLES_ATTRIBUTE = "_dictamesh_roles"


def at_least(role: str | None, minimum: Role) -> bool:
    """Whether ``role`` (None: no membership) grants what ``minimum`` grants."""
    return role is not None and _RANK[Role(role)] >= _RANK[minimum]


def is_platform_admin(user: Any) -> bool:
    """A superuser, or an active user holding the platform permission (not from a role)."""
    if not getattr(user, "is_active", False):
        return False
    return bool(user.is_superuser) or ModelBackend().has_perm(user, PLATFORM_PERMISSION)


def roles_of(user: Any) -> dict[str, str]:
    """Every tenant (by schema) the user is a member of, with its role there; one query,
    remembered on the user object (one request's), so a page's many permission checks
    cost one query."""
    if not getattr(user, "is_active", False) or user.pk is None:
        return {}
    roles: dict[str, str] | None = user.__dict__.get(_ROLES_ATTRIBUTE)
    if roles is None:
        roles = dict(Membership.objects.filter(user_id=user.pk)
                     .values_list("tenant__schema_name", "role"))
        user.__dict__[_ROLES_ATTRIBUTE] = roles
    return roles


def role_in(user: Any, schema: str) -> str | None:
    """The user's role in the tenant of ``schema``, or None."""
    return None if is_public(schema) else roles_of(user).get(schema)


def may_enter_admin(user: Any, schema: str) -> bool:
    """The public host's admin is the platform admins'; a tenant host's admin is its
    members' (and the platform admins')."""
    if is_platform_admin(user):
        return True
    return not is_public(schema) and role_in(user, schema) is not None


@cache
def _tenant_app_labels() -> frozenset[str]:
    shared = set(settings.SHARED_APPS)
    return frozenset(config.label for config in django_apps.get_app_configs()
                     if config.name in settings.TENANT_APPS and config.name not in shared)


def role_grants(role: str, perm: str) -> bool:
    """Whether a member with ``role`` holds the Django permission ``perm`` in its tenant."""
    app_label, _, codename = perm.partition(".")
    action, _, model = codename.partition("_")
    if app_label in _tenant_app_labels():
        return at_least(role, Role.VIEWER if action == "view" else Role.CURATOR)
    if app_label == "schema_registry":
        return action == "view"  # the registry changes through its API only
    if app_label == "tenancy" and model in _TENANCY_MODELS_FOR_TENANT_ADMINS:
        return at_least(role, Role.ADMIN)
    return False


class TenantRoleBackend(BaseBackend):
    """Permissions from tenant roles (in the request's tenant) and the platform role.

    A platform admin holds every permission, like a superuser; whether platform objects
    are shown at all is the admin site's decision (public host only).
    """

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if perm == PLATFORM_PERMISSION:  # granted by ModelBackend only, never by a role
            return False
        if is_platform_admin(user_obj):
            return True
        role = role_in(user_obj, current_schema())
        return role is not None and role_grants(role, perm)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        if is_platform_admin(user_obj):
            return True
        role = role_in(user_obj, current_schema())
        if role is None:
            return False
        if app_label in _tenant_app_labels():
            return True
        minimum = _SCOPED_SHARED_LABELS.get(app_label)
        return minimum is not None and at_least(role, minimum)
