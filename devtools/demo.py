"""What the local stack sets up for its demo, inside Django: a local admin user and the
demo tenant's connections to the reference sources.

This used to be two management commands shipped with the product (`ensure_dev_superuser`,
`connect_reference_sources`); it is development only, so it lives here and reaches the apps
only through their public services.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from apps.adapters import services as adapter_services
from apps.tenancy import services as tenancy_services
from devtools.reference import LOCAL_PORTS, directus, ecommerce, products, suppliers
from dictamesh.tenancy import tenant_context

# Set it to keep the demo tenant's Directus webhook secret across runs; otherwise each run
# makes a new one (and prints it).
WEBHOOK_SECRET_VARIABLE = "DICTAMESH_DEMO_WEBHOOK_SECRET"  # noqa: S105 - a variable's name


class DemoSetupError(RuntimeError):
    """The demo could not be set up; the message says why."""


@dataclass(frozen=True)
class ReferenceSource:
    """One reference server as a source of a tenant."""

    connection: str  # the source connection's name, as in the webhook URL
    adapter: str
    server: str  # the reference server's name, a key of LOCAL_PORTS
    credentials: Mapping[str, str]


def demo_webhook_secret() -> str:
    """The configured webhook secret, or a fresh random one."""
    return os.environ.get(WEBHOOK_SECRET_VARIABLE) or secrets.token_urlsafe(24)


def reference_sources(webhook_secret: str) -> tuple[ReferenceSource, ...]:
    """The reference servers with the credentials they accept by default (suppliers by its
    description, saved first by :func:`connect_reference_sources`)."""
    return (
        ReferenceSource("customers", "directus", "directus",
                        {"token": directus.DEFAULT_TOKEN, "webhook_secret": webhook_secret}),
        ReferenceSource("products", "products", "products",
                        {"api_key": products.DEFAULT_API_KEYS[0]}),
        ReferenceSource("invoices", "ecommerce", "ecommerce",
                        {"token": ecommerce.DEFAULT_TOKEN}),
        ReferenceSource("suppliers", "suppliers", "suppliers",
                        {"token": suppliers.DEFAULT_TOKEN}),
    )


def _require_debug() -> None:
    if not settings.DEBUG:
        raise DemoSetupError("The local admin users are for development only and DEBUG is "
                             "off; use `manage.py createsuperuser` and `manage.py "
                             "add_tenant_member` instead.")


def ensure_local_admin(username: str, password: str) -> bool:
    """The platform admin (a superuser) of the local run, with a well-known password; True
    if created now."""
    _require_debug()
    return tenancy_services.ensure_superuser(username, password)


def ensure_tenant_admin(tenant: str, username: str, password: str) -> bool:
    """A tenant admin of ``tenant`` with a well-known password (signs in at the tenant's
    host only); True if the user was created now. An existing user keeps its password."""
    _require_debug()
    return tenancy_services.add_member(tenant, username, tenancy_services.Role.ADMIN,
                                       password=password).user_created


def connect_reference_sources(
    tenant: str, webhook_secret: str, host: str = "127.0.0.1",
    ports: Mapping[str, int] = LOCAL_PORTS, polling_interval_seconds: int = 30,
) -> list[str]:
    """Connect ``tenant`` to the reference servers on ``host``; one line per source saying
    what was done. Safe to run again: it updates the existing connections."""
    done = []
    try:
        with tenant_context(tenant):
            # A source without adapter code: its description is saved, then connected. The
            # local stack starts the servers after this, so nothing is probed live here.
            adapter_services.save_description("suppliers", suppliers.DESCRIPTION,
                                              saved_by="demo", probe=False)
            for source in reference_sources(webhook_secret):
                base_url = f"http://{host}:{ports[source.server]}"
                _, created = adapter_services.connect_source(
                    source.connection, source.adapter, base_url, dict(source.credentials),
                    polling_interval_seconds=polling_interval_seconds, probe=False)
                done.append(f"{'Connected' if created else 'Updated'} {source.connection} "
                            f"({source.adapter}) at {base_url}")
    except Exception as exc:  # noqa: BLE001 - whatever failed, the stack reports it and stops
        raise DemoSetupError(f"Could not connect {tenant!r} to the reference sources: "
                             f"{exc}") from exc
    return done
