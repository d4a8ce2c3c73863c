"""Layer 3: the metadata catalog (entity registry, relationship graph, schema registry,
event log, lineage). ``services.py`` is its public API."""
