from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path

from dictamesh.observability.metrics import metrics


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask every host for /favicon.ico: the platform's icon, not a 404."""
    return HttpResponseRedirect(static("dictamesh/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    # /healthz and /readyz are answered by dictamesh.health.middleware.ProbeMiddleware.
    path("metrics", metrics, name="prometheus-django-metrics"),  # public host only
    path("", include("apps.adapters.health_urls")),  # /sources/health, a tenant's admins
    path("admin/", admin.site.urls),
    path("schema-registry/", include("apps.catalog.schema_registry.urls")),
    path("webhooks/", include("apps.adapters.urls")),
    path("", include("apps.federation.urls")),  # /graphql, /graphql/<domain>
]
