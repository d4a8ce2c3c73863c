"""Connect a tenant to the project's reference sources (what `make run` does for `demo`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.adapters import services
from devtools.reference import directus, ecommerce, products
from dictamesh.tenancy import tenant_context


class Command(BaseCommand):
    help = "Register the reference Directus, products and e-commerce servers as sources."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--directus-port", type=int, default=8055)
        parser.add_argument("--products-port", type=int, default=8056)
        parser.add_argument("--ecommerce-port", type=int, default=8057)
        parser.add_argument("--interval", type=int, default=30,
                            help="polling interval in seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        host, interval = options["host"], options["interval"]
        sources = [
            ("customers", "directus", options["directus_port"],
             {"token": directus.DEFAULT_TOKEN, "webhook_secret": "demo-webhook-secret"}),
            ("products", "products", options["products_port"],
             {"api_key": products.DEFAULT_API_KEYS[0]}),
            ("invoices", "ecommerce", options["ecommerce_port"],
             {"token": ecommerce.DEFAULT_TOKEN}),
        ]
        try:
            with tenant_context(options["tenant"]):
                for name, adapter, port, credentials in sources:
                    _, created = services.connect_source(
                        name, adapter, f"http://{host}:{port}", credentials,
                        polling_interval_seconds=interval)
                    self.stdout.write(f"{'Connected' if created else 'Updated'} {name} "
                                      f"({adapter}) at http://{host}:{port}")
        except Exception as exc:  # noqa: BLE001 - reported as a command error
            raise CommandError(f"Could not connect the reference sources: {exc}") from exc
