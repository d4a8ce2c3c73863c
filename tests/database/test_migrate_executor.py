"""migrate_schemas hands only the schemas with something to migrate to django-tenants."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from dictamesh.database.migrate_executor import SkipUpToDateExecutor
from dictamesh.tenancy import activate_public_schema

# A shared app: in a tenant schema its migrations change nothing but are recorded all the
# same, so forgetting its last one leaves the schema "behind" without harm.
SHARED_APP = "tenancy"


def _leaf_of(app: str) -> str:
    leaves = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes(app)
    return leaves[0][1]


def _recorded(schema: str, app: str, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{schema}".django_migrations '  # noqa: S608
                       "WHERE app = %s AND name = %s", [app, name])
        return bool(cursor.fetchone()[0])


def _forget(schema: str, app: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{schema}".django_migrations '  # noqa: S608
                       "WHERE app = %s AND name = %s", [app, name])


def _migrate_all() -> str:
    out = io.StringIO()
    call_command("migrate_schemas", interactive=False, verbosity=1, stdout=out)
    activate_public_schema()
    return out.getvalue()


def _pending(schemas: list[str]) -> list[str]:
    return SkipUpToDateExecutor((), {"verbosity": 0}).pending_schemas(schemas)


def test_schemas_that_record_every_migration_are_not_migrated_again(tenants_committed, capfd):
    schemas = [tenant.schema_name for tenant in tenants_committed]
    assert _pending(["public", *schemas]) == []
    _migrate_all()
    printed = capfd.readouterr().out
    assert "1 of 1 schema(s) up to date; migrating 0" in printed  # public
    assert f"{len(schemas)} of {len(schemas)} schema(s) up to date; migrating 0" in printed
    assert "Starting migration" not in printed  # no schema went through `migrate`


def test_a_schema_missing_a_migration_is_migrated_and_only_that_one(tenants_committed, capfd):
    behind, current = (tenant.schema_name for tenant in tenants_committed)
    leaf = _leaf_of(SHARED_APP)
    _forget(behind, SHARED_APP, leaf)
    assert _pending([current, behind]) == [behind]

    _migrate_all()
    printed = capfd.readouterr().out
    assert "1 of 2 schema(s) up to date; migrating 1" in printed
    assert _recorded(behind, SHARED_APP, leaf)  # django-tenants' executor applied it
    assert _pending([current, behind]) == []


def test_a_schema_without_a_migration_history_is_pending(tenants_committed):
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA IF NOT EXISTS "bare_probe"')
    try:
        assert _pending(["bare_probe", tenants_committed[0].schema_name]) == ["bare_probe"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute('DROP SCHEMA "bare_probe"')


def test_a_rollback_to_a_named_migration_is_not_skipped():
    executor = SkipUpToDateExecutor(("catalog", "0001_initial"), {"verbosity": 0})
    assert executor._may_skip() is False
    assert SkipUpToDateExecutor((), {"fake": True})._may_skip() is False
    assert SkipUpToDateExecutor((), {"verbosity": 1})._may_skip() is True
