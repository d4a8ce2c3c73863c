"""The e-commerce adapter: invoices, their items, and invoice creation, cancellation and
payment for sagas."""
