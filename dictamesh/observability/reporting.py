"""What Django's error reports (the DEBUG page, mailed reports) may show of the settings."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding settings whose value is a URL that may carry a
    password (DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, CELERY_RESULT_BACKEND): Django
    only hides names with API, AUTH, TOKEN, KEY, SECRET, PASS or SIGNATURE in them."""

    hidden_settings = re.compile(
        r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE"
        r"|(DATABASE|REDIS|BROKER|CACHE)_URL|RESULT_BACKEND|DSN", flags=re.IGNORECASE)
