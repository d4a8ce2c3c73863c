"""Layer 2's database side: the transactional outbox and its relay, the consumer groups'
entry points (one table of groups → topics → handlers, ``settings.EVENT_HANDLERS``), the
dedupe record, and the replay/consume/provision commands. ``services.py`` is its public
API; the catalog, federation and (next) the sagas are its consumers."""
