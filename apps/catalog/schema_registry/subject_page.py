"""What a subject's admin page shows besides its fields: the compatibility and mode in
force (the global ones when the subject sets none), two versions side by side with their
differences, and the topic that uses the subject with what the catalog saw on it."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import mark_safe

from apps.catalog import services as catalog
from apps.catalog.schema_registry import services
from apps.catalog.schema_registry.models import Subject, SubjectVersion
from apps.catalog.schema_registry.ownership import subject_tenant
from apps.tenancy.services import tenant_exists
from dictamesh.tenancy import tenant_context

# Confluent's TopicNameStrategy: the subjects of topic T are T-key and T-value.
_TOPIC_SUFFIXES = ("-value", "-key")


def subject_page_context(request: HttpRequest, subject: Subject) -> dict[str, Any]:
    return {
        "in_force": {
            "compatibility": services.get_compatibility(subject.name, default_to_global=True),
            "compatibility_is_global": not subject.compatibility,
            "mode": services.get_mode(subject.name, default_to_global=True),
            "mode_is_global": not subject.mode,
        },
        "comparison": _comparison(request, subject),
        "topic": _topic(subject.name),
    }


def _pretty_lines(text: str) -> list[str]:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=False).splitlines()
    except ValueError:
        return text.splitlines()


def _comparison(request: HttpRequest, subject: Subject) -> dict[str, Any] | None:
    """``?left=&right=`` version numbers (default: the two latest) side by side."""
    versions = list(SubjectVersion.objects.filter(subject=subject).select_related("schema")
                    .order_by("version"))
    if not versions:
        return None
    by_number = {v.version: v for v in versions}
    numbers = [v.version for v in versions]

    def chosen(name: str, default: int) -> int:
        raw = request.GET.get(name, "")
        return int(raw) if raw.isdigit() and int(raw) in by_number else default

    right = chosen("right", numbers[-1])
    left = chosen("left", numbers[-2] if len(numbers) > 1 else numbers[-1])
    left_lines = _pretty_lines(by_number[left].schema.schema)
    right_lines = _pretty_lines(by_number[right].schema.schema)
    table = difflib.HtmlDiff(tabsize=2, wrapcolumn=70).make_table(
        left_lines, right_lines, f"version {left}", f"version {right}")
    return {"versions": numbers, "left": left, "right": right,
            "identical": left_lines == right_lines,
            "table": mark_safe(table)}  # noqa: S308 - difflib escapes the schema text


def _topic(subject: str) -> dict[str, Any] | None:
    """The topic the subject's name says it serves, and the tenant's events on it."""
    topic = next((subject[: -len(suffix)] for suffix in _TOPIC_SUFFIXES
                  if subject.endswith(suffix)), None)
    if topic is None:
        return None
    slug = subject_tenant(subject)
    activity = None
    if slug is not None and tenant_exists(slug):
        with tenant_context(slug):
            activity = catalog.topic_activity(topic)
    return {"name": topic, "activity": activity}
