"""Kafka clients that leave nothing running when the cluster cannot be reached.

kafka-python (3.0) starts a consumer's or an admin client's IO thread in ``__init__``, then
bootstraps; when the bootstrap fails the constructor raises without stopping that thread,
and ``close()`` cannot be called on an object never returned. Each failed attempt would
leave a thread reconnecting forever: ``/readyz``, probed every few seconds, would add one per
probe for as long as Kafka is down, a consumer runner one per reconnect attempt, and the
topic directory one per retry. (The producer bootstraps before it starts its thread.)
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer

from dictamesh.events.kafka_config import KafkaConnection, client_options

# How long a half-started client's IO thread gets to finish: it only has to notice the
# stop between two select() calls.
_STOP_TIMEOUT_MS = 5_000


class _StoppedIfNotStarted:
    """Mixed in before a kafka-python client: if its ``__init__`` raises, stop the parts
    ``close()`` would stop (the later ones may not exist yet), then re-raise."""

    def __init__(self, *args: Any, **configs: Any) -> None:
        try:
            super().__init__(*args, **configs)
        except BaseException:
            self._stop_what_was_started()
            raise

    def _stop_what_was_started(self) -> None:
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


class _AdminClient(_StoppedIfNotStarted, KafkaAdminClient):
    pass


class _Consumer(_StoppedIfNotStarted, KafkaConsumer):
    pass


def open_admin_client(connection: KafkaConnection, client_id: str, /,
                      **role_options: Any) -> KafkaAdminClient:
    """A bootstrapped ``KafkaAdminClient`` with ``connection``'s options (see
    ``client_options``); if it cannot bootstrap, its error, with its IO thread stopped."""
    return _AdminClient(**client_options(connection, client_id, **role_options))


def open_consumer(options: dict[str, Any]) -> KafkaConsumer:
    """A ``KafkaConsumer`` with ``options`` (from ``client_options``); if it cannot
    bootstrap, its error, with its IO thread stopped."""
    return _Consumer(**options)
