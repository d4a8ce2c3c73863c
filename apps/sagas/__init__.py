"""Layer 7: saga definitions and their persisted state machines."""
