"""The WSGI application of the web role (gunicorn loads it in each worker).

Start-up ends here: the URLconf, every view and the GraphQL schemas are loaded now rather
than on the first request, and then the heap they make is frozen out of the garbage
collector's way (dictamesh.heap; GC_FREEZE_AT_START=false keeps CPython's defaults).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _finish_startup() -> None:
    from django.conf import settings
    from django.urls import get_resolver

    from apps.federation.services import build_schemas
    from dictamesh.heap import settle_after_startup

    get_resolver().url_patterns  # noqa: B018 - imports every view module now
    build_schemas()
    if settings.GC_FREEZE_AT_START:
        settle_after_startup(settings.GC_GEN0_THRESHOLD)


_finish_startup()
