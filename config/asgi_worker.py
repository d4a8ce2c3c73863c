"""gunicorn's worker class for the image's `asgi` role: uvicorn's, with the WebSocket
implementation that applies back-pressure (a send waits while the socket's buffer is full,
which is what lets a slow subscriber's queue fill and close it) and no lifespan protocol
(Django has no startup or shutdown hooks to run).

    gunicorn -c python:config.gunicorn -k config.asgi_worker.AsgiWorker config.asgi:application
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker


class AsgiWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS,
                                     "ws": "websockets-sansio", "lifespan": "off"}
