"""What a Directus webhook body says: which action, on which collection, for which keys.

Every shape below is Directus' own action event, ``{event, ...meta}`` (api/src/emitter.ts),
sent whole when the webhook's body is ``{{$trigger}}``:

- A Flow with an "Event Hook" trigger of type Action (10.x and 11.x; since 11.0 the only way
  Directus pushes changes). A Flow listens on ``<collection>.items.<action>`` (api/src/flows.ts),
  so its ``event`` names the collection: ``"customers.items.update"``.
- The legacy Webhooks module (up to 10.x, api/src/webhooks.ts) listens on ``items.<action>``:
  ``event`` is ``"items.update"``, with an ``accountability`` object beside the meta. 10.10
  turned existing webhooks into Flows sending ``{{$trigger}}``, so both shapes still arrive.

The meta of each action (api/src/services/items.ts): create ``{payload, key, collection}``
(one event per created item); update ``{payload, keys, collection}`` with ``payload`` the
changed fields; delete ``{payload: keys, keys, collection}``. A key taken from a URL
(``PATCH``/``DELETE /items/<collection>/<key>``) is a string, one from a body or the database a
number: both are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.adapters.base import MalformedRecord

ACTIONS = ("create", "update", "delete")
_EVENT = re.compile(r"(?:(?P<collection>.+)\.)?items\.(?P<action>create|update|delete)")


@dataclass(frozen=True)
class ItemsEvent:
    action: str  # "create", "update" or "delete"
    collection: str
    keys: list[Any]  # as sent: numbers or strings
    payload: Any


def parse(body: Mapping[str, Any]) -> ItemsEvent:
    """The items event a webhook body carries, or MalformedRecord saying what the Flow must
    send instead."""
    event = body.get("event")
    matched = _EVENT.fullmatch(event) if isinstance(event, str) else None
    if matched is None:
        raise _not_items(body, "its event is not an items create, update or delete")
    named = body.get("collection")
    collection = named if isinstance(named, str) and named else matched["collection"]
    if not collection:
        raise _not_items(body, "it names no collection")
    if matched["collection"] and matched["collection"] != collection:
        raise _not_items(body, f"its event is about {matched['collection']!r} but its "
                               f"collection is {collection!r}")
    keys = _keys(body)
    if keys is None:
        raise _not_items(body, "it carries no `key` or `keys`")
    return ItemsEvent(matched["action"], collection, keys, body.get("payload"))


def _keys(body: Mapping[str, Any]) -> list[Any] | None:
    """``keys`` (update, delete), else ``key`` (create), else a delete's payload of keys."""
    keys, key = body.get("keys"), body.get("key")
    if isinstance(keys, list):
        return keys
    if isinstance(key, str | int) and not isinstance(key, bool):
        return [key]
    payload = body.get("payload")
    if str(body.get("event", "")).endswith("items.delete") and isinstance(payload, list):
        return payload
    return None


def _not_items(body: Mapping[str, Any], why: str) -> MalformedRecord:
    return MalformedRecord(
        f"Not a Directus items webhook ({why}; event {body.get('event')!r:.60}, collection "
        f"{body.get('collection')!r:.60}). Trigger the Flow with an Event Hook (Action) on "
        "items.create, items.update and items.delete of the collection, and send "
        "{{$trigger}} as the Webhook operation's body.")
