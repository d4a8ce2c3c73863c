"""Kafka admin clients that leave nothing running when the cluster cannot be reached.

kafka-python (3.0) starts an admin client's IO thread in ``KafkaAdminClient.__init__``,
then bootstraps; when the bootstrap fails the constructor raises without stopping that
thread, and ``close()`` cannot be called on an object never returned. Each failed attempt
would leave a thread reconnecting forever: ``/readyz``, probed every few seconds, would add
one per probe for as long as Kafka is down, and the topic directory one per retry.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from kafka import KafkaAdminClient

from dictamesh.events.kafka_config import KafkaConnection, client_options

# How long a half-started client's IO thread gets to finish: it only has to notice the
# stop between two select() calls.
_STOP_TIMEOUT_MS = 5_000


class _AdminClientThatCleansUp(KafkaAdminClient):
    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            self._stop_what_was_started()
            raise

    def _stop_what_was_started(self) -> None:
        # The parts ``close()`` stops, in its order; the later ones may not exist yet.
        # ``suppress``: the bootstrap error is the one to report, not a failure to tidy up.
        if (metrics := getattr(self, "_metrics", None)) is not None:
            with suppress(Exception):
                metrics.close()
        if (client := getattr(self, "_client", None)) is not None:
            with suppress(Exception):
                client.close()
        if (net := getattr(self, "_net", None)) is not None:
            with suppress(Exception):
                net.stop(timeout_ms=_STOP_TIMEOUT_MS)


def open_admin_client(connection: KafkaConnection, client_id: str, /,
                      **role_options: Any) -> KafkaAdminClient:
    """A bootstrapped ``KafkaAdminClient`` with ``connection``'s options (see
    ``client_options``); if it cannot bootstrap, its error, with its IO thread stopped."""
    return _AdminClientThatCleansUp(**client_options(connection, client_id, **role_options))
