"""The base every reference server shares: dispatch, fault knobs, stats and the control API.

A concrete server supplies its routes, its data (`load`), its credentials check and its error
shape; everything a test steers lives here, under `/__control/`, which is never faulted,
never counted and needs no credentials:

    GET  /__control/faults   the active faults
    POST /__control/faults   replace them: {"latency_ms", "error_rate", "status", "rate_limit":
                             {"requests", "window_s", "retry_after_s"}, "down", "malformed",
                             plus the server's own knobs}; {} clears them
    POST /__control/reset    the launch seed and sizes again, no faults, zeroed stats
    GET  /__control/stats    requests received, per path, per "METHOD path" and per status;
                             "in_flight": received and not answered yet (a reset keeps it:
                             a call still held or delayed is still coming)
    POST /__control/seed     {"seed", "customers", "products", "invoices"}: rebuild the data
    GET  /__control/endpoint-faults   each named write endpoint's knobs, as they stand
    POST /__control/endpoint-faults   replace them: {"<endpoint>": {"fail_next", "fail_always",
                             "status", "delay_ms", "delay_next", "drop_answer_next",
                             "drop_answer_always", "hold_answer_ms", "hold_answer_next"}};
                             {} clears them (see endpoint_faults.py)
    GET  /__control/effects[?key=|?key_prefix=]   what each idempotency key's writes created
                             and what of it is still in effect (see effects.py)
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar, Self

from devtools.reference.clock import MonotonicClock
from devtools.reference.dataset import Sizes
from devtools.reference.effects import EffectLedger
from devtools.reference.endpoint_faults import EndpointFaults
from devtools.reference.faults import ExtraKnob, Faults, FaultState, as_int
from devtools.reference.web import (
    BadRequestBody,
    Listener,
    Request,
    Response,
    Route,
    json_response,
    resolve,
    route,
)

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__control/"


class ApiError(Exception):
    """An error answer, in the words of the server that raises it.

    `code` is snake_case; a server whose API spells codes differently converts it.
    """

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _status_code(status: int) -> str:
    """The snake_case error code for a bare status: 503 -> "service_unavailable"."""
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.clear()

    def clear(self) -> None:
        self.total = self.dropped = 0
        self.paths: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()

    def received(self, request: Request) -> None:
        with self._lock:
            self.total += 1
            self.in_flight += 1
            self.paths[request.path] += 1
            self.requests[f"{request.method} {request.path}"] += 1

    def answered(self, response: Response | None) -> None:
        with self._lock:
            self.in_flight -= 1
            if response is None:
                self.dropped += 1
            else:
                self.statuses[str(response.status)] += 1

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total, "paths": dict(self.paths),
                    "requests": dict(self.requests), "statuses": dict(self.statuses),
                    "dropped": self.dropped, "in_flight": self.in_flight}


class ReferenceServer(ABC):
    """One source system's API on a background thread, with its data and its knobs."""

    name: ClassVar[str]
    extra_fault_knobs: ClassVar[Mapping[str, ExtraKnob]] = {}
    #: the kinds of objects keyed writes create, e.g. ("reservations",)
    effect_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, seed: int = 42, sizes: Sizes | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        # One lock guards the data: handlers run on one thread per connection.
        self.lock = threading.RLock()
        self.clock = MonotonicClock()
        self.faults = FaultState()
        self._stats = _Stats()
        self.launch_seed, self.launch_sizes = seed, sizes or Sizes()
        self.seed, self.sizes = self.launch_seed, self.launch_sizes
        self.effects = EffectLedger(self.effect_kinds)
        self.load(self.seed, self.sizes)
        self._routes = self.routes()
        self.endpoint_faults = EndpointFaults([r.write for r in self._routes if r.write])
        self._control_routes = self.control_routes()
        self._listener = Listener((host, port), self)
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._listener.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._listener.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"reference-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and every open connection; safe to repeat."""
        if self._thread is not None:
            self._listener.shutdown()  # returns once serve_forever has, so only when running
            self._thread.join(timeout=5)
            self._thread = None
        self._listener.close_connections()
        self._listener.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what a concrete server supplies ---------------------------------------------------

    @abstractmethod
    def routes(self) -> list[Route]:
        """The API's routes; only these are counted and faulted."""

    @abstractmethod
    def load(self, seed: int, sizes: Sizes) -> None:
        """Replace all data with the data set for `seed` and `sizes`."""

    @abstractmethod
    def authenticate(self, request: Request) -> None:
        """Raise ApiError unless the request carries valid credentials."""

    @abstractmethod
    def error(self, status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
        """An error response in this API's shape."""

    def credential(self, request: Request) -> str | None:
        """What the rate limit counts by; requests without one are counted per client."""
        return request.bearer_token()

    def reset_extras(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Clear server-specific control state on reset (the Directus webhook target)."""

    def extra_stats(self) -> dict[str, Any]:
        return {}

    def effect_is_current(self, kind: str, object_id: str) -> bool:
        """Whether an object a keyed write created is still in effect (see effects.py)."""
        return True

    def control_routes(self) -> list[Route]:
        return [
            route("GET", r"/__control/faults", self._get_faults),
            route("POST", r"/__control/faults", self._set_faults),
            route("POST", r"/__control/reset", self._reset),
            route("GET", r"/__control/stats", self._get_stats),
            route("POST", r"/__control/seed", self._seed),
            route("GET", r"/__control/endpoint-faults", self._get_endpoint_faults),
            route("POST", r"/__control/endpoint-faults", self._set_endpoint_faults),
            route("GET", r"/__control/effects", self._get_effects),
        ]

    # -- helpers for concrete servers ------------------------------------------------------

    def is_malformed(self, key: object) -> bool:
        return str(key) in self.faults.faults.malformed

    def extra_fault(self, knob: str, default: Any = None) -> Any:
        return self.faults.faults.extras.get(knob, default)

    # -- dispatch --------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response | None:
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        self._stats.received(request)
        response = self._faulted(request)
        self._stats.answered(response)
        return response

    def _faulted(self, request: Request) -> Response | None:
        faults = self.faults.faults
        if faults.down:
            return None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        retry_after = self.faults.retry_after(faults, self.credential(request) or request.client)
        if retry_after is not None:
            response = self.error(HTTPStatus.TOO_MANY_REQUESTS, "rate_limited",
                                  f"Too many requests, retry after {retry_after}s.", {})
            response.headers["Retry-After"] = str(retry_after)
            return response
        if self.faults.should_fail(faults):
            return self._injected(faults.status)
        resolved = resolve(self._routes, request.method, request.path)
        if isinstance(resolved, int):
            return self.error(resolved, _status_code(resolved),
                              f"Route {request.method} {request.path} doesn't exist.", {})
        matched, arguments = resolved
        if matched.write is None:
            return self._handle(request, matched, arguments)
        plan = self.endpoint_faults.plan(matched.write)
        if plan.delay_s:
            time.sleep(plan.delay_s)
        if plan.fail_status is not None:
            return self._injected(plan.fail_status)
        response = self._handle(request, matched, arguments)
        if plan.hold_answer_s:
            time.sleep(plan.hold_answer_s)  # applied; the caller has not heard of it yet
        return None if plan.drop_answer else response

    def _injected(self, status: int) -> Response:
        return self.error(status, _status_code(status),
                          f"{HTTPStatus(status).phrase} (injected fault).", {})

    def _handle(self, request: Request, matched: Route, arguments: dict[str, str]) -> Response:
        try:
            if not matched.public:
                self.authenticate(request)
            return matched.handler(request, **arguments)
        except ApiError as exc:
            return self.error(exc.status, exc.code, exc.message, exc.details)
        except BadRequestBody as exc:
            return self.error(HTTPStatus.BAD_REQUEST, "invalid_payload",
                              f"Invalid payload. {str(exc).capitalize()}.", {})
        except Exception:
            # A bug here must look like a real server's bug to the adapter under test: a 500.
            logger.exception("%s server failed on %s %s", self.name, request.method, request.path)
            return self.error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_server_error",
                              "An unexpected error occurred.", {})

    # -- the control API -------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        resolved = resolve(self._control_routes, request.method, request.path)
        if isinstance(resolved, int):
            return json_response(resolved, {"error": f"no control endpoint {request.path}"})
        matched, arguments = resolved
        try:
            return matched.handler(request, **arguments)
        except (BadRequestBody, ValueError) as exc:
            return json_response(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    def _get_faults(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.faults.faults.to_json())

    def _set_faults(self, request: Request) -> Response:
        faults = Faults.parse(request.json(), self.extra_fault_knobs)
        self.faults.configure(faults)
        return json_response(HTTPStatus.OK, faults.to_json())

    def _reset(self, request: Request) -> Response:
        self.reset()
        return json_response(HTTPStatus.OK, {"seed": self.seed, "sizes": vars(self.sizes)})

    def _get_stats(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, {**self._stats.to_json(), **self.extra_stats()})

    def _get_endpoint_faults(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.endpoint_faults.to_json())

    def _set_endpoint_faults(self, request: Request) -> Response:
        self.endpoint_faults.configure(request.json())
        return json_response(HTTPStatus.OK, self.endpoint_faults.to_json())

    def _get_effects(self, request: Request) -> Response:
        with self.lock:  # `current` reads the data
            body = self.effects.to_json(self.effect_is_current, key=request.param("key"),
                                        key_prefix=request.param("key_prefix"))
        return json_response(HTTPStatus.OK, body)

    def _seed(self, request: Request) -> Response:
        body = request.json() if request.body else {}
        if not isinstance(body, dict) or not body.keys() <= {"seed", *vars(self.sizes)}:
            raise ValueError("seed takes seed, customers, products and invoices")
        seed = as_int(body.get("seed", self.seed), minimum=-(2**63))
        sizes = self.sizes.with_changes(**{k: v for k, v in body.items() if k != "seed"})
        self.reseed(seed, sizes)
        return json_response(HTTPStatus.OK, {"seed": self.seed, "sizes": vars(self.sizes)})

    # -- the same controls for code in this process -------------------------------------------

    def reseed(self, seed: int, sizes: Sizes) -> None:
        with self.lock:
            self.load(seed, sizes)
            self.effects.clear()  # the objects they name are gone
            self.seed, self.sizes = seed, sizes

    def reset(self) -> None:
        """The state at launch: launch seed and sizes, no faults, zeroed stats."""
        self.faults.configure(Faults())
        self.endpoint_faults.clear()
        self._stats.clear()
        self.reset_extras()
        self.reseed(self.launch_seed, self.launch_sizes)
