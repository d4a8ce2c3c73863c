"""gunicorn's worker class for the image's `asgi` role: uvicorn's, with the WebSocket
implementation that applies back-pressure (a send waits while the socket's buffer is full,
which is what lets a slow subscriber's queue fill and close it), no lifespan protocol
(Django has no startup or shutdown hooks to run), and no permessage-deflate: every socket
would compress each event again in its own zlib context, a quarter of the CPU a fan-out
to a thousand subscribers costs (bench/bench_subscriptions.py), and keep that context's
memory, for `next` messages of a few hundred bytes that compress little.

    gunicorn -c python:config.gunicorn -k config.asgi_worker.AsgiWorker config.asgi:application
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker


class AsgiWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS,
                                     "ws": "websockets-sansio", "lifespan": "off",
                                     "ws_per_message_deflate": False}
