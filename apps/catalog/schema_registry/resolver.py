"""The codec's schema ids come from this registry: the SchemaResolver the events codec needs,
backed by the registry's services (so ids agree across processes and with any Confluent
client reading the same topics)."""

from __future__ import annotations

import json
from typing import Any

from apps.catalog.schema_registry import services
from apps.catalog.schema_registry.errors import SchemaNotFound
from dictamesh.events.codec import UnknownSchemaId


class RegistrySchemaResolver:
    """Registers on first use, then the codec's own caches answer; misses stay cheap
    (one indexed lookup), which matters for a consumer fed unknown ids on purpose."""

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        return services.register(subject, json.dumps(schema))

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        try:
            found = services.get_by_id(schema_id)
        except SchemaNotFound:
            raise UnknownSchemaId(schema_id) from None
        schema: dict[str, Any] = json.loads(found.schema)
        return schema

    def references_by_id(self, schema_id: int) -> list[dict[str, Any]]:
        try:
            texts = services.referenced_schemas(schema_id)
        except SchemaNotFound:
            raise UnknownSchemaId(schema_id) from None
        return [json.loads(text) for text in texts]
