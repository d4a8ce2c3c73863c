"""Which tenant a subject belongs to.

A tenant's topics are named ``<tenant>.<domain>.<source>.<event>`` (dictamesh.events.topics)
and their subjects ``<topic>-key`` / ``<topic>-value``, so a subject whose first
dot-separated part is a tenant's slug is that tenant's. Any other subject is the
platform's: only platform admins change it.
"""

from __future__ import annotations


def subject_tenant(subject: str) -> str | None:
    """The slug a subject's name claims (``acme`` for ``acme.crm.directus.x-value``), or
    None for a subject without a dot-separated prefix. Whether that tenant exists is for
    the caller's membership or key to show."""
    prefix, dot, rest = subject.partition(".")
    return prefix if dot and prefix and rest else None


def tenant_prefix(slug: str) -> str:
    """The start of every subject of the tenant ``slug``."""
    return f"{slug}."
