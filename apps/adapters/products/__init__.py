"""The products adapter: a third-party product API (SKUs, prices, stock, reservations)."""
