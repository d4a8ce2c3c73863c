"""The ASGI application: Django's HTTP views (everything WSGI serves, unchanged) and the
GraphQL API's WebSocket subscriptions (apps/federation/subscriptions). The image's `asgi`
role serves it with gunicorn's uvicorn workers, `make run` with uvicorn:

    uvicorn config.asgi:application --ws websockets-sansio --lifespan off
"""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django first: the routing imports models, which need the apps loaded.
http_application = get_asgi_application()
if settings.DEBUG:  # as runserver does; in production WhiteNoise serves them
    http_application = ASGIStaticFilesHandler(http_application)

from channels.routing import ProtocolTypeRouter  # noqa: E402

from apps.federation.services import websocket_application  # noqa: E402

application = ProtocolTypeRouter({
    "http": http_application,
    "websocket": websocket_application(),
})
