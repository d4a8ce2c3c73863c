from __future__ import annotations

from django.apps import AppConfig


class DatabaseConfig(AppConfig):
    name = "dictamesh.database"
    label = "dictamesh_database"
    verbose_name = "Database routing"

    def ready(self) -> None:
        # Connected here, not on first use of the router: the primary's connection is
        # often made by raw SQL, which never asks a router, and must still detect writes.
        from dictamesh.database import replicas

        replicas.connect_signals()
