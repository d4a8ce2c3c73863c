"""The `graphql-transport-ws` protocol: its messages and close codes.

The protocol of the `graphql-ws` library (github.com/enisdenjo/graphql-ws, PROTOCOL.md),
spoken by Apollo Client's GraphQLWsLink and Python's `gql` WebsocketsTransport. Client:
`connection_init` (once, first), `subscribe {id, payload: {query, variables,
operationName, extensions}}`, `complete {id}`, `ping`/`pong`. Server: `connection_ack`,
`next {id, payload: ExecutionResult}`, `error {id, payload: [GraphQLError]}`,
`complete {id}`, `ping`/`pong`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SUBPROTOCOL = "graphql-transport-ws"

# Close codes the protocol defines.
BAD_MESSAGE = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
SUBPROTOCOL_NOT_ACCEPTABLE = 4406
INIT_TIMEOUT = 4408
SUBSCRIBER_EXISTS = 4409
TOO_MANY_INIT_REQUESTS = 4429
# Ours, outside the protocol's 4400-4499 range:
#: more inbound messages per second than the key may send
TOO_MANY_MESSAGES = 4008
#: the socket's outbound queue overflowed: the client reads slower than events arrive
TOO_SLOW = 4013

#: the longest subscription id we keep (the protocol sets none; ids are the client's)
MAX_ID_LENGTH = 128


class ProtocolError(Exception):
    """A message the protocol does not allow: the socket closes with BAD_MESSAGE."""


@dataclass(frozen=True)
class Message:
    type: str
    id: str | None
    payload: Any


_WITH_ID = {"subscribe", "complete"}
_KNOWN = {"connection_init", "ping", "pong", *_WITH_ID}


def parse(text: str | None) -> Message:
    """One client message, or ProtocolError naming what is wrong with it."""
    if text is None:
        raise ProtocolError("Binary frames are not part of graphql-transport-ws.")
    try:
        data = json.loads(text)
    except ValueError:
        raise ProtocolError("Invalid message: not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("Invalid message: a JSON object with a string `type` expected.")
    kind = data["type"]
    if kind not in _KNOWN:
        raise ProtocolError(f"Invalid message type {kind[:40]!r}.")
    message_id = data.get("id")
    if kind in _WITH_ID and (not isinstance(message_id, str) or not message_id
                             or len(message_id) > MAX_ID_LENGTH):
        raise ProtocolError(f"Invalid message: `{kind}` needs a non-empty string `id` of "
                            f"at most {MAX_ID_LENGTH} characters.")
    payload = data.get("payload")
    if kind == "subscribe" and not isinstance(payload, dict):
        raise ProtocolError("Invalid message: `subscribe` needs a `payload` object.")
    if kind == "connection_init" and payload is not None and not isinstance(payload, dict):
        raise ProtocolError("Invalid message: `connection_init` payload must be an object.")
    return Message(kind, message_id if kind in _WITH_ID else None, payload)


def encode(kind: str, message_id: str | None = None, payload: Any = None) -> str:
    message: dict[str, Any] = {"type": kind}
    if message_id is not None:
        message["id"] = message_id
    if payload is not None:
        message["payload"] = payload
    return json.dumps(message, separators=(",", ":"))


def next_message(message_id: str, rendered_result: str) -> str:
    """A `next` message around an execution result already serialised once for every
    subscriber that shares it (see execution.py)."""
    return f'{{"id":{json.dumps(message_id)},"type":"next","payload":{rendered_result}}}'


def api_key_of(payload: Any) -> str | None:
    """The API key a `connection_init` payload carries: ``{"Authorization": "Bearer
    <key>"}`` (any case, as HTTP clients send it; also under ``headers``, as Apollo's
    connectionParams often do) or ``{"apiKey": "<key>"}``."""
    if not isinstance(payload, dict):
        return None
    candidates = [payload, payload.get("headers")]
    for found in candidates:
        if not isinstance(found, dict):
            continue
        for name, value in found.items():
            if isinstance(value, str) and name.lower() == "authorization":
                scheme, _, token = value.strip().partition(" ")
                return token.strip() if scheme.lower() == "bearer" else None
        if isinstance(found.get("apiKey"), str):
            return str(found["apiKey"])
    return None
