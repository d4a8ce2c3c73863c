"""Layer 7: saga definitions and their persisted state machines."""
from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SagasConfig(AppConfig):
    name = "apps.sagas"
    label = "sagas"

    def ready(self) -> None:
        from apps.sagas.create_invoice import register_create_invoice
        from apps.sagas.definitions import all_definitions

        register_create_invoice()
        check_visibility_timeout([d.longest_step_s for d in all_definitions()])


def check_visibility_timeout(step_seconds: list[float]) -> None:
    """The broker must not hand a step's message to a second worker while the first one
    still runs it (or waits to retry it): its visibility timeout must be the longer."""
    longest = max(step_seconds, default=0.0) + settings.SAGA_STEP_GRACE_SECONDS
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    if visibility <= longest:
        raise ImproperlyConfigured(
            f"CELERY_VISIBILITY_TIMEOUT_SECONDS={visibility} must exceed the longest saga step "
            f"(timeout, retry wait and grace: {longest:.0f}s), or a running step's message "
            "is redelivered to another worker.")
