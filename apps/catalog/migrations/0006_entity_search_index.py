"""Full-text search over the catalog's entity attributes (`search` in the GraphQL API).

A GIN index over the words of every string attribute (jsonb_to_tsvector with the 'simple'
configuration: no stemming and no stop words, so ids, SKUs and emails stay whole), for the
entities not deleted. Built-in full-text search needs no extension, which suits one schema
per tenant (an extension lives in one schema only).
"""

from django.db import migrations

SEARCH_VECTOR = "jsonb_to_tsvector('simple'::regconfig, attributes, '[\"string\"]'::jsonb)"


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_event_tables_move_to_events")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX idx_entity_search ON entity_catalog USING gin ({SEARCH_VECTOR}) "
            "WHERE NOT is_deleted",
            "DROP INDEX IF EXISTS idx_entity_search",
        ),
    ]
