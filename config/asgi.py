"""The ASGI application: Django's HTTP views (everything WSGI serves, unchanged) and the
GraphQL API's WebSocket subscriptions (apps/federation/subscriptions), served by uvicorn:

    uvicorn config.asgi:application --host 0.0.0.0 --port 8000
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django first: the routing imports models, which need the apps loaded.
http_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from apps.federation.services import websocket_application  # noqa: E402

application = ProtocolTypeRouter({
    "http": http_application,
    "websocket": websocket_application(),
})
