"""Source error messages people can read: one sentence per thought, no query strings.

HTTP client errors quote the whole URL they failed on; for Directus that is a kilobyte of
URL-encoded filter. An operator needs the path (which call failed) and the reason (refused,
timed out, unknown host), not the query, so messages keep the path and drop the rest.
"""

from __future__ import annotations

import re

# A query string: from "?" to the next whitespace, quote or closing bracket.
_QUERY = re.compile(r"(?P<path>(?:https?://[^\s?'\"()]+)|(?:url: /[^\s?'\"()]*))\?[^\s'\"()]+")
_ERRNO = re.compile(r"\[Errno -?\d+\] (?P<reason>[^'\")\]]+)")
_TIMEOUT = re.compile(r"(?P<kind>read|connect) timeout=(?P<seconds>[\d.]+)")
_RESOLVE = re.compile(r"Failed to resolve '(?P<host>[^']+)'")
_CLOSED = re.compile(r"RemoteDisconnected\('(?P<reason>[^']+)'\)")
MAX_REASON = 200


def without_queries(text: str) -> str:
    """``text`` with every URL's (and ``url: /path``'s) query string cut off."""
    return _QUERY.sub(r"\g<path>", text)


def transport_reason(exc: BaseException) -> str:
    """Why no answer came, in a few words: "connection refused", "read timeout 0.5 s",
    "host 'x' not found"; else the client's text without query strings."""
    text = str(exc)
    if timeout := _TIMEOUT.search(text):
        return f"{timeout['kind']} timeout {timeout['seconds']} s"
    if closed := _CLOSED.search(text):
        return closed["reason"].lower()
    if unresolved := _RESOLVE.search(text):
        return f"host {unresolved['host']!r} not found"
    if errno := _ERRNO.search(text):
        return errno["reason"].strip().rstrip(".").lower()
    return without_queries(text)[:MAX_REASON]


def clause(text: str) -> str:
    """``text`` ready to be followed by more of a sentence: no trailing period or space."""
    return text.strip().rstrip(".").rstrip()
