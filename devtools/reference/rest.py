"""Conventions the products and e-commerce APIs share, as most plain JSON REST APIs do.

Errors are `{"error": {"code", "message", "details"?}}`; a bad query parameter is 400
`invalid_parameter`, a body that breaks a rule is 422 `validation_error`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from devtools.reference.clock import canonical_ts
from devtools.reference.server import ApiError
from devtools.reference.web import Request, Response, json_response

MAX_BATCH = 100
_AMOUNT = re.compile(r"\d+(\.\d{1,2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def error_response(status: int, code: str, message: str, details: Mapping[str, Any],
                   headers: Mapping[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = dict(details)
    return json_response(status, {"error": error}, headers)


def invalid_parameter(name: str, problem: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "invalid_parameter", f"`{name}` {problem}.",
                    parameter=name)


def validation_error(message: str, **details: Any) -> ApiError:
    return ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", message, **details)


def query_int(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.param(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid_parameter(name, f"must be an integer from 1 to {maximum}")
    return int(raw)


def query_since(request: Request, name: str = "updated_since") -> str | None:
    """A date-time parameter (by default `updated_since`) in the stored timestamp form, so
    it compares with the stored timestamps."""
    raw = request.param(name)
    if raw is None:
        return None
    try:
        return canonical_ts(raw)
    except ValueError:
        raise invalid_parameter(name, "must be an ISO-8601 date-time") from None


def query_choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    """A parameter that takes one of ``choices``; 400 naming them for any other value."""
    raw = request.param(name)
    if raw is not None and raw not in choices:
        raise invalid_parameter(name, f"must be one of {', '.join(choices)}")
    return raw


def query_list(request: Request, name: str) -> list[str]:
    """A comma-separated batch of keys, without repeats, at most MAX_BATCH of them."""
    values = [part.strip() for part in (request.param(name) or "").split(",") if part.strip()]
    if len(values) > MAX_BATCH:
        raise invalid_parameter(name, f"takes at most {MAX_BATCH} values")
    return list(dict.fromkeys(values))


def amount(value: Any, field: str) -> str:
    """A money amount as a two-place decimal string; floats are refused, as they round."""
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
        raise validation_error(f'`{field}` must be a decimal string like "19.99".',
                               fields=[field])
    return str(Decimal(value).quantize(Decimal("0.01")))


def currency(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise validation_error(f"`{field}` must be an ISO 4217 code like EUR.", fields=[field])
    return value
