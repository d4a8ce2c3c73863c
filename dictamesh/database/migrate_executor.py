"""``migrate_schemas`` that spends no time on the schemas with nothing to migrate.

django-tenants runs Django's ``migrate`` once per schema: each run rebuilds the migration
graph, reads the schema's history, runs the system checks again and sends the
post-migrate signals (content types), about 0.15-0.2 s per schema with nothing to do, so a
deployment of 1,000 tenants waited minutes for nothing at every release. This executor
builds the graph once, reads every schema's history in a few queries, and hands only the
schemas that miss a migration to django-tenants' executor (``TENANT_MIGRATION_EXECUTOR``:
``standard``, or ``multiprocessing`` with ``TENANT_MULTIPROCESSING_MAX_PROCESSES``), with the
system checks off for them since ``migrate_schemas`` itself ran them once.

A schema counts as up to date when its ``django_migrations`` records every leaf of the
graph (Django refuses a history that records a migration without its dependencies, so the
leaves stand for the whole graph). Anything unusual (an app label or migration name, as for
a rollback, ``--fake``, ``--fake-initial``, ``--plan``, ``--prune``, ``--check``,
``--run-syncdb``) goes to django-tenants' executor for every schema, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django_tenants.migration_executors import get_executor as tenants_executor
from django_tenants.migration_executors.base import MigrationExecutor

# Options after which every schema must go through Django's migrate command.
_OPTIONS_NEEDING_EVERY_SCHEMA = ("fake", "fake_initial", "plan", "prune", "check_unapplied",
                                 "run_syncdb")
# Schemas per query reading the migration histories (one UNION ALL each).
_SCHEMAS_PER_QUERY = 200


def get_executor(codename: str | None = None) -> type[MigrationExecutor]:
    """``GET_EXECUTOR_FUNCTION`` of django-tenants: this executor unless ``--executor``
    names another (``--executor standard`` runs every schema through ``migrate``)."""
    return tenants_executor(codename or SkipUpToDateExecutor.codename)


class SkipUpToDateExecutor(MigrationExecutor):
    codename = "skip-up-to-date"

    def run_migrations(self, tenants: Iterable[str] | None = None) -> None:
        schemas = list(tenants or [])
        if not schemas:
            return
        pending = self.pending_schemas(schemas) if self._may_skip() else schemas
        if int(self.options.get("verbosity", 1)) >= 1:
            self._say(f"{len(schemas) - len(pending)} of {len(schemas)} schema(s) up to date; "
                      f"migrating {len(pending)}")
        if pending:
            self._delegate().run_migrations(tenants=pending)

    def run_multi_type_migrations(self, tenants: Any) -> None:
        self._delegate().run_multi_type_migrations(tenants)

    def _may_skip(self) -> bool:
        return not self.args and not any(self.options.get(option)
                                         for option in _OPTIONS_NEEDING_EVERY_SCHEMA)

    def _delegate(self) -> MigrationExecutor:
        options = dict(self.options)
        if self._may_skip():
            options["skip_checks"] = True  # migrate_schemas ran them before any schema
        executor = tenants_executor(settings.TENANT_MIGRATION_EXECUTOR)
        return executor(self.args, options)

    def _say(self, message: str) -> None:
        print(f"[{self.codename}] {message}", flush=True)  # noqa: T201 - a command's output

    def pending_schemas(self, schemas: Sequence[str]) -> list[str]:
        """The schemas whose history misses a leaf of the migration graph, in order."""
        leaves = sorted(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())
        connection = connections[self.options.get("database") or self.TENANT_DB_ALIAS]
        complete: set[str] = set()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relname = 'django_migrations' AND c.relkind = 'r'"
                " AND n.nspname = ANY(%s)", [list(schemas)])
            with_history = [row[0] for row in cursor.fetchall()]
            apps = [app for app, _ in leaves]
            names = [name for _, name in leaves]
            for start in range(0, len(with_history), _SCHEMAS_PER_QUERY):
                chunk = with_history[start:start + _SCHEMAS_PER_QUERY]
                cursor.execute(_histories_query(chunk, connection.ops.quote_name),
                               [value for schema in chunk for value in (schema, apps, names)])
                complete.update(schema for schema, found in cursor.fetchall()
                                if found == len(leaves))
        return [schema for schema in schemas if schema not in complete]


def _histories_query(schemas: Sequence[str], quote: Any) -> str:
    """Per schema: its name and how many of the leaves its history holds (the name and the
    leaves' two arrays are bound per schema; the schema's identifier is quoted, and it comes
    from pg_namespace)."""
    return " UNION ALL ".join(
        f"SELECT %s::text, count(*) FROM {quote(schema)}.django_migrations"  # noqa: S608
        " WHERE (app, name) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
        for schema in schemas)
