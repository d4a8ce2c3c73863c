"""GET /sources/health on a tenant's host (mounted at the root by config/urls.py)."""

from django.urls import path

from apps.adapters.health import sources_health

urlpatterns = [
    path("sources/health", sources_health, name="sources-health"),
]
