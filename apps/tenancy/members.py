"""Tenant members: users of the public schema with a role in one tenant."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

from apps.tenancy.contracts import MembershipError, NewMember
from apps.tenancy.models import Membership, Role, Tenant


def _tenant(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(schema_name=slug).first()
    if tenant is None:
        raise MembershipError(f"No tenant {slug!r}: onboard it first "
                              f"(`manage.py onboard_tenant {slug}`).")
    return tenant


def add_member(slug: str, username: str, role: str, password: str | None = None) -> NewMember:
    """Give ``username`` the role ``role`` in the tenant ``slug`` (replacing any role it had
    there). A missing user is created with ``password`` or a random one, returned once;
    members are staff (they may sign in to an admin) but reach only their tenants. An
    existing user's password is left as it is."""
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}: use one of {', '.join(Role.values)}.")
    username = username.strip()
    if not username:
        raise MembershipError("Give the member's user name.")
    users = get_user_model()
    with schema_context(get_public_schema_name()), transaction.atomic():
        tenant = _tenant(slug)
        user = users.objects.filter(username=username).first()
        created_password = None
        if user is None:
            created_password = password or secrets.token_urlsafe(18)
            user = users.objects.create_user(username, "", created_password, is_staff=True)
        elif not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return NewMember(username=username, role=role, user_created=created_password is not None,
                     password=created_password)


def remove_member(slug: str, username: str) -> bool:
    """End ``username``'s membership of the tenant; True if it had one. The user stays."""
    with schema_context(get_public_schema_name()):
        deleted, _ = Membership.objects.filter(tenant__schema_name=slug,
                                               user__username=username).delete()
    return deleted > 0
