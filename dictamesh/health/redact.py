"""Remove credentials from text that is shown to operators (probe details, source health).

Error messages of HTTP, Redis and database clients often quote the URL they failed on,
including its ``user:password@`` part; nothing shown in a probe or a health page may carry it.
"""

from __future__ import annotations

import re

# scheme://<user-info>@ : the user-info has no '/', '@' or whitespace (RFC 3986 §3.2.1).
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def redact_userinfo(text: str) -> str:
    """``text`` with every URL's user-info replaced by ``***``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
