"""The few Directus REST calls the adapter makes, on one collection's items."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from apps.adapters.base import MalformedRecord
from apps.adapters.directus.mapping import FIELDS
from apps.adapters.http_connection import SourceHttp

#: primary keys per `_in` filter: keeps the query string well under common URL limits
MAX_KEYS_PER_CALL = 100
#: items per page Directus is asked for; larger requested pages are served in several
MAX_PAGE_SIZE = 1000


class DirectusItems:
    def __init__(self, http: SourceHttp, collection: str) -> None:
        self.http = http
        self.collection = collection
        self.path = f"/items/{quote(collection, safe='')}"

    def by_keys(self, keys: Sequence[int]) -> list[Any]:
        """The items with these primary keys (at most MAX_KEYS_PER_CALL), in one call.

        A filter on the list endpoint, not `GET /items/<c>/<key>`: Directus answers 403 for a
        missing item there, which cannot be told apart from a permission problem.
        """
        return self.list({"id": {"_in": list(keys)}}, sort=("id",), limit=len(keys))[0]

    def list(self, rule: Mapping[str, Any] | None, *, sort: Sequence[str], limit: int,
             count: bool = False,
             fields: Sequence[str] = FIELDS) -> tuple[list[Any], int | None]:
        """One page of items matching ``rule`` (a Directus filter), and with ``count`` the
        number of items matching it (Directus' `filter_count`)."""
        params: dict[str, Any] = {"fields": ",".join(fields), "sort": ",".join(sort),
                                  "limit": limit}
        if rule:
            params["filter"] = json.dumps(rule, separators=(",", ":"))
        if count:
            params["meta"] = "filter_count"
        body = self.http.get_json(self.path, params)
        data = items_of(body, self.path)
        total = None
        if count:
            meta = body.get("meta")
            raw_total = meta.get("filter_count") if isinstance(meta, dict) else None
            total = raw_total if isinstance(raw_total, int) else None
        return data, total


def items_of(body: Any, path: str) -> list[Any]:
    """The items of a list answer to GET ``path``; MalformedRecord when it has none."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise MalformedRecord(f"Directus answered GET {path} without a `data` list; is the "
                              "base URL a Directus instance?")
    return data
