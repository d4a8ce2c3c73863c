"""Catalog curation in the Django admin (tenant hosts only: the tables live in tenant
schemas), one module per concern: entities (list, page, graph explorer), relationships
(add and retire with a reason) and the read-only records (events, lineage, cache)."""

from apps.catalog.admin.entities import EntityCatalogAdmin
from apps.catalog.admin.records import CacheStatusAdmin, DataLineageAdmin, EventLogAdmin
from apps.catalog.admin.relationships import EntityRelationshipAdmin

__all__ = ["CacheStatusAdmin", "DataLineageAdmin", "EntityCatalogAdmin", "EventLogAdmin",
           "EntityRelationshipAdmin"]
