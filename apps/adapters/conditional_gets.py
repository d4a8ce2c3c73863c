"""Conditional GETs: the last ETag and body per URL, reused on a 304, so an unchanged answer
costs no body transfer (the products API's, and any described source with ``etag: true``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from apps.adapters.base import MalformedRecord
from apps.adapters.http_connection import SourceHttp

#: URLs whose last answer is kept; a list page of 250 products is about 40 kB
DEFAULT_ETAG_CACHE_SIZE = 256


class ConditionalGets:
    """GETs with If-None-Match. The bodies are kept as parsed JSON and shared between
    callers, who must not change them (mappings only read)."""

    def __init__(self, http: SourceHttp, max_entries: int = DEFAULT_ETAG_CACHE_SIZE) -> None:
        self.http = http
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, tuple[str, Any]] = OrderedDict()  # url -> (etag, body)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any,
                                                                            requests.Response]:
        """The JSON body and the response; on a 304, the body kept for the URL."""
        url = path + ("?" + urlencode(sorted(params.items())) if params else "")
        with self._lock:
            kept = self._answers.get(url)
        headers = {"If-None-Match": kept[0]} if kept else None
        response = self.http.send("GET", path, params=params, headers=headers,
                                  accept=(200, 304))
        if response.status_code == 304:
            if kept is None:
                raise MalformedRecord(f"{self.http.source} answered GET {url} with 304 Not "
                                      "Modified, though we sent no If-None-Match.")
            with self._lock:
                if url in self._answers:
                    self._answers.move_to_end(url)
            return kept[1], response
        body = self.http.json_of(response, f"GET {url}")
        etag = response.headers.get("ETag")
        if etag:
            with self._lock:
                self._answers[url] = (etag, body)
                self._answers.move_to_end(url)
                while len(self._answers) > self.max_entries:
                    self._answers.popitem(last=False)
        return body, response
