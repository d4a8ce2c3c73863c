"""gunicorn's own logs (errors and the access log) as the platform's JSON lines.

gunicorn formats its access log with a printf pattern on a handler of its own; this logger
class sends both of its loggers through the structured formatter instead, and the access
log as fields (method, path, status, duration) rather than a sentence to parse.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from gunicorn import glogging

from dictamesh.observability.logging import structured_handler


class JsonLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        handler = structured_handler(fmt=os.environ.get("LOG_FORMAT", "json"))
        for log in (self.error_log, self.access_log):
            for existing in list(log.handlers):
                log.removeHandler(existing)
            log.addHandler(handler)
            log.propagate = False

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        status = str(atoms.get("s", "-"))
        self.access_log.log(logging.INFO, "request", extra={
            "method": atoms.get("m"), "path": atoms.get("U"), "query": atoms.get("q") or None,
            "status": int(status) if status.isdigit() else status,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "bytes": atoms.get("B"), "remote_addr": atoms.get("h"),
            "user_agent": atoms.get("a"), "referer": atoms.get("f"),
            "protocol": atoms.get("H"),
        })
