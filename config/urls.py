from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # /healthz and /readyz are answered by dictamesh.health.middleware.ProbeMiddleware.
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("schema-registry/", include("apps.catalog.schema_registry.urls")),
    path("webhooks/", include("apps.adapters.urls")),
    path("", include("apps.federation.urls")),  # /graphql, /graphql/<domain>
]
