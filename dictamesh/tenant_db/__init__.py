"""The database backend: django-tenants' PostgreSQL backend, sending `SET search_path` only
when a connection's path really changes (see ``base.py``)."""
