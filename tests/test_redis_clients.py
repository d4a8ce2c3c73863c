"""The one Redis client factory: where its clients connect, how long they wait, who shares."""

from __future__ import annotations

import socket
import threading
import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from apps.federation import ratelimit
from dictamesh.cache.invalidation import (
    CHANNEL_TEMPLATE,
    get_invalidation_bus,
    reset_invalidation_bus,
)
from dictamesh.health.checks import check_redis
from dictamesh.redis_clients import (
    RedisClientOptions,
    forget_shared_redis_client,
    new_redis_client,
    shared_redis_client,
)
from dictamesh.resilience.breaker import default_redis_client, reset_breakers

# Nothing listens on port 1: a client pointed there fails at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def _fresh_shared_clients():
    yield
    for purpose in ("test", "breaker", "ratelimit"):
        forget_shared_redis_client(purpose)
    ratelimit.reset()
    reset_breakers()


def _kwargs(client) -> dict:
    return client.connection_pool.connection_kwargs


def test_a_new_client_talks_to_the_configured_redis(settings):
    key = f"test:redis-clients:{uuid.uuid4().hex}"
    with new_redis_client() as client:
        client.set(key, "v", ex=10)
        assert client.get(key) == b"v"  # bytes: callers decode what they need
        assert _kwargs(client)["db"] == int(settings.REDIS_URL.rsplit("/", 1)[1])


def test_timeouts_default_to_the_setting_and_can_be_shortened(settings):
    settings.REDIS_TIMEOUT_SECONDS = 1.5
    with new_redis_client() as client:
        assert (_kwargs(client)["socket_connect_timeout"], _kwargs(client)["socket_timeout"]) \
            == (1.5, 1.5)
    options = RedisClientOptions(connect_timeout=0.2, read_timeout=3.0)
    with new_redis_client(options) as client:
        assert (_kwargs(client)["socket_connect_timeout"], _kwargs(client)["socket_timeout"]) \
            == (0.2, 3.0)


class HangUp:
    """A listener that accepts each connection and closes it at once, counting them: a
    Redis that fails every command, whose count of connections is the client's attempts."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.accepted = 0
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.listener.close()


def test_a_client_without_retries_fails_after_one_attempt(settings):
    # Attempts are counted where they arrive, not timed.
    hang_up = HangUp()
    settings.REDIS_URL = hang_up.url
    try:
        with new_redis_client(RedisClientOptions(retry=False)) as client, \
                pytest.raises(RedisConnectionError):
            client.ping()
        assert hang_up.accepted == 1
        # Control: the listener does see retries, one connection each.
        hang_up.accepted = 0
        with redis.Redis.from_url(hang_up.url, retry=Retry(NoBackoff(), 3)) as retrying, \
                pytest.raises(RedisConnectionError):
            retrying.ping()
        assert hang_up.accepted == 4
    finally:
        hang_up.close()


def test_a_shared_client_is_one_per_purpose_until_forgotten_or_changed():
    client = shared_redis_client("test")
    assert shared_redis_client("test") is client
    assert shared_redis_client("test", RedisClientOptions(retry=False)) is not client
    changed = shared_redis_client("test", RedisClientOptions(retry=False))
    forget_shared_redis_client("test")
    assert shared_redis_client("test", RedisClientOptions(retry=False)) is not changed
    assert shared_redis_client("other-test") is not shared_redis_client("test")
    forget_shared_redis_client("other-test")


def test_breaker_and_rate_limit_share_the_factory_clients(settings):
    assert default_redis_client() is shared_redis_client("breaker")
    settings.GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = 0.3
    client = ratelimit._default_client()
    options = RedisClientOptions(connect_timeout=0.3, read_timeout=0.3, retry=False,
                                 health_check_interval=0)
    assert client is shared_redis_client("ratelimit", options)
    assert _kwargs(client)["socket_timeout"] == 0.3


def test_the_readiness_check_and_the_invalidation_bus_use_the_configured_redis(settings):
    check_redis(1.0)
    reset_invalidation_bus()
    try:
        db = int(settings.REDIS_URL.rsplit("/", 1)[1])
        assert get_invalidation_bus().channel == CHANNEL_TEMPLATE.format(db=db)
    finally:
        reset_invalidation_bus()
    settings.REDIS_URL = DEAD_REDIS_URL
    with pytest.raises(RedisConnectionError):
        check_redis(0.5)
