"""Template filters for the catalog's admin pages."""

from __future__ import annotations

from django import template

from apps.catalog.display import format_version

register = template.Library()


@register.filter
def version_time(version: int | None) -> str:
    """A version as its source time (epoch milliseconds), else as the number."""
    return format_version(version)
