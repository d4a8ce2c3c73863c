"""Layer 1: the DataProductAdapter contract, the adapter registry and the source adapters."""
