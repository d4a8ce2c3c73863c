"""Layer 7: saga definitions and their persisted state machines.

Where things are:

- ``contracts.py``, ``services.py``: the door other apps use (start, read, operate sagas).
- ``definitions.py``: a saga as ordered steps (action, compensation, retry policy, timeout),
  registered by name and version; ``create_invoice.py`` is the CreateInvoice saga.
- ``engine.py``: the state machine (claim a step, run it, record it, move on);
  ``runner.py`` runs one attempt in its span; ``transitions.py`` writes a state change and
  its ``saga.state_changed`` event in one transaction.
- ``lifecycle.py``: starting a saga and the operators' resume / retry / abort;
  ``queries.py``: the views and pages that ``services.py`` returns.
- ``tasks.py``: the Celery step task and the recovery sweep (scheduled in config/celery.py).
- ``models.py``: the saga row and its append-only step log (a trigger enforces it).
"""
