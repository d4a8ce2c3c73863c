"""Database plumbing beyond Django's: read replicas for catalog reads, and a
``migrate_schemas`` executor that skips the schemas with nothing to migrate."""
