"""The one place Kafka client options are built: producer, dead-letter producer, consumer,
admin client and the readiness check all take their connection options from here.

A client's options are the connection's (bootstrap servers, client id, and the security of
a real cluster: TLS and SASL, from the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_*
settings) merged with the options of its role (acks, group id, timeouts). A role may not set
a connection option itself, so security is configured once, for every client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from kafka.net.compat import KafkaNetClient

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# The mechanisms that need nothing but a user name and a password. kafka-python's others
# (GSSAPI, OAUTHBEARER, AWS_MSK_IAM) need objects or libraries no environment variable gives.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS and SASL for a real cluster; the default, PLAINTEXT, suits the local broker.

    Its errors name the environment variables, since that is where its values come from.
    """

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""  # empty: the system's trusted certificate authorities
    ssl_certfile: str = ""  # client certificate, for clusters that authenticate clients by TLS
    ssl_keyfile: str = ""
    ssl_password: str = field(default="", repr=False)  # of the key file, if encrypted
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.protocol!r}: use one of "
                             f"{', '.join(SECURITY_PROTOCOLS)}.")
        if self.uses_sasl:
            self._check_sasl()
        elif self.sasl_mechanism:
            raise ValueError(f"KAFKA_SASL_MECHANISM={self.sasl_mechanism!r} is set but "
                             f"KAFKA_SECURITY_PROTOCOL={self.protocol!r} does not use SASL: "
                             "use SASL_SSL (or SASL_PLAINTEXT), or unset the mechanism.")

    def _check_sasl(self) -> None:
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: with "
                             f"KAFKA_SECURITY_PROTOCOL={self.protocol} use one of "
                             f"{', '.join(SASL_MECHANISMS)}.")
        if not self.sasl_username or not self.sasl_password:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.protocol} needs "
                             "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.protocol.endswith("SSL")

    @classmethod
    def from_settings(cls) -> KafkaSecurity:
        return cls(
            protocol=settings.KAFKA_SECURITY_PROTOCOL,
            sasl_mechanism=settings.KAFKA_SASL_MECHANISM,
            sasl_username=settings.KAFKA_SASL_USERNAME,
            sasl_password=settings.KAFKA_SASL_PASSWORD,
            ssl_cafile=settings.KAFKA_SSL_CAFILE,
            ssl_certfile=settings.KAFKA_SSL_CERTFILE,
            ssl_keyfile=settings.KAFKA_SSL_KEYFILE,
            ssl_password=settings.KAFKA_SSL_PASSWORD,
            ssl_check_hostname=settings.KAFKA_SSL_CHECK_HOSTNAME,
        )

    def kafka_options(self) -> dict[str, Any]:
        """kafka-python's options for this security; only those the protocol uses."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_sasl:
            options.update(sasl_mechanism=self.sasl_mechanism,
                           sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        if self.uses_tls:
            options.update(ssl_cafile=self.ssl_cafile or None,
                           ssl_certfile=self.ssl_certfile or None,
                           ssl_keyfile=self.ssl_keyfile or None,
                           ssl_password=self.ssl_password or None,
                           ssl_check_hostname=self.ssl_check_hostname)
        return options


@dataclass(frozen=True)
class KafkaConnection:
    """Where the cluster is and how to reach it securely."""

    bootstrap_servers: tuple[str, ...]
    security: KafkaSecurity = KafkaSecurity()

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            raise ValueError("No Kafka bootstrap servers: give host:port[,host:port].")

    @classmethod
    def from_settings(cls, bootstrap_servers: Iterable[str] | None = None) -> KafkaConnection:
        """The configured cluster and security; ``bootstrap_servers`` overrides the
        servers only (a test broker, a benchmark's), never the security."""
        if bootstrap_servers is None:
            bootstrap_servers = settings.KAFKA_BOOTSTRAP_SERVERS
        return cls(tuple(bootstrap_servers), KafkaSecurity.from_settings())


# Every option a connection may set, whether or not its protocol uses it.
CONNECTION_OPTIONS = frozenset({
    "bootstrap_servers", "client_id", "security_protocol", "sasl_mechanism",
    "sasl_plain_username", "sasl_plain_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile",
    "ssl_password", "ssl_check_hostname", "kafka_client",
})


# kafka-python warns ("... is blocking the event loop") when one step of its IO thread takes
# longer than 0.1 s of wall time. In our processes other threads decode and apply events
# while that thread waits for the GIL (or, on a busy host, for a CPU), so a step that
# needed 2-40 ms of CPU (a fetch response read from the socket, measured) shows as 0.1-0.3 s:
# a false alarm, printed during every benchmark. One second is when a step would start
# delaying the group's heartbeats (KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS, 1 s by default);
# a warning from there on is worth reading.
IO_STEP_WARNING_SECONDS = 1.0
IO_CLIENT = partial(KafkaNetClient, slow_task_threshold_secs=IO_STEP_WARNING_SECONDS)


def client_options(connection: KafkaConnection, client_id: str, /,
                   **role_options: Any) -> dict[str, Any]:
    """The keyword arguments of a kafka-python client: ``connection``'s options and the
    ``client_id`` (how brokers and their logs name this client), then the role's own.

    ValueError if the role sets a connection option: that belongs to the connection.
    """
    common: dict[str, Any] = {
        "bootstrap_servers": list(connection.bootstrap_servers),
        "client_id": client_id,
        "kafka_client": IO_CLIENT,
        **connection.security.kafka_options(),
    }
    clashes = sorted(CONNECTION_OPTIONS & set(role_options))
    if clashes:
        raise ValueError(f"Kafka client {client_id!r}: {', '.join(clashes)} come from the "
                         "connection (KafkaConnection), not from the client's role.")
    return {**common, **role_options}

