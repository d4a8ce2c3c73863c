"""django-tenants' backend, keeping the session's search_path across a switch to the schema
it is already on.

django-tenants (with TENANT_LIMIT_SET_CALLS) sends `SET search_path` on the first query
after any ``set_tenant``, even when the tenant is the one the session is on: every request
of a tenant sent it again (the middleware sets the tenant on each request), and every
``schema_context`` of the current schema did too. Here ``set_tenant`` keeps the remembered
path when the new one is equal. The remembered path is what the session has: close,
rollback and savepoint rollback forget it (django-tenants' own rules, unchanged), so a
kept path is never one the database has dropped (tests/tenancy/test_search_path.py).
"""

from __future__ import annotations

from typing import Any

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper


class DatabaseWrapper(TenantDatabaseWrapper):
    def set_tenant(self, tenant: Any, include_public: bool = True) -> None:
        session_path: list[str] | None = self.search_path_set_schemas  # type: ignore[has-type]
        super().set_tenant(tenant, include_public)
        if session_path is not None and session_path == self._get_cursor_search_paths():
            self.search_path_set_schemas = session_path
