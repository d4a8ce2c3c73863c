"""Sources described in data: a REST API connected without code (see description.py)."""
