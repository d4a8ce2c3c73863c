"""Sign-in throttling (django-axes): what a locked-out client is answered."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse

LOCKED_OUT_STATUS = 429
LOCKED_OUT_MESSAGE = (
    "Too many failed sign-ins for this account: it is locked for a while "
    "(LOGIN_LOCKOUT_MINUTES). Wait, or ask a platform admin to lift it with "
    "`manage.py axes_reset_username <user>`."
)


def is_locked_out(request: HttpRequest) -> bool:
    """Whether django-axes refused (or has just locked) the sign-in made in ``request``."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: Any = None) -> HttpResponse:
    """An API that answered the lockout in its own format (status 429) keeps its answer;
    anything else (the admin's sign-in) gets a plain 429 that says what to do."""
    if original_response is not None and original_response.status_code == LOCKED_OUT_STATUS:
        return original_response
    return HttpResponse(LOCKED_OUT_MESSAGE, status=LOCKED_OUT_STATUS,
                        content_type="text/plain; charset=utf-8")


def record_failed_sign_in(request: HttpRequest, username: str | None) -> bool:
    """Count a failed sign-in that did not go through ``django.contrib.auth.authenticate``
    (e.g. an unknown API key) like any other; True if the client is now locked out."""
    user_login_failed.send(sender=__name__, credentials={"username": username},
                           request=request)
    return is_locked_out(request)
