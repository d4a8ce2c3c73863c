"""The platform pointed at a primary with a streaming replica of its own (pg_cluster.py).

For the module that asks for ``replicated_platform``, the ``default`` database is the
cluster's primary (migrated, with two onboarded tenants) and ``replica_1`` its hot
standby, as ``DATABASE_URL`` and ``DATABASE_REPLICA_URLS`` would make them; the suite's
own test database is back in place afterwards.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from dictamesh.tenancy import activate_public_schema
from tests.database.pg_cluster import ReplicatedCluster, start_replicated_cluster

DATABASE = "dictamesh_replicas"
REPLICA_ALIAS = "replica_1"
TENANTS = ("replica_alpha", "replica_beta")


@dataclass(frozen=True)
class ReplicatedPlatform:
    cluster: ReplicatedCluster
    tenants: tuple[str, ...]


@pytest.fixture(scope="module")
def replicated_platform(django_db_blocker) -> Iterator[ReplicatedPlatform]:
    from apps.tenancy.services import onboard_tenant

    cluster = start_replicated_cluster()
    with cluster.primary.connect() as admin:
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    primary_settings = connections["default"].settings_dict
    saved = copy.deepcopy(primary_settings)
    replica_settings = copy.deepcopy(primary_settings)
    replica_settings.update(HOST="127.0.0.1", PORT=cluster.replica.port, NAME=DATABASE,
                            TEST={"MIRROR": None})
    overrides = override_settings(DATABASE_REPLICAS=[REPLICA_ALIAS],
                                  KAFKA_PROVISION_TOPICS_ON_ONBOARD=False)
    with django_db_blocker.unblock():
        connections.close_all()
        # In place: django-tenants' wrapper and Django's handler share this dict.
        primary_settings.update(HOST="127.0.0.1", PORT=cluster.primary.port, NAME=DATABASE)
        connections.settings[REPLICA_ALIAS] = replica_settings
        overrides.enable()
        try:
            activate_public_schema()
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
            for slug in TENANTS:
                onboard_tenant(slug, name=slug, domain=f"{slug.replace('_', '-')}.replicas")
            cluster.wait_for_replica()
            yield ReplicatedPlatform(cluster, TENANTS)
        finally:
            activate_public_schema()
            connections.close_all()
            with contextlib.suppress(AttributeError):  # never made in this thread
                del connections[REPLICA_ALIAS]
            del connections.settings[REPLICA_ALIAS]
            primary_settings.clear()
            primary_settings.update(saved)
            overrides.disable()
            # Content type ids of the cluster's database must not leak into later tests.
            ContentType.objects.clear_cache()
            cluster.stop()
    assert REPLICA_ALIAS not in settings.DATABASES
