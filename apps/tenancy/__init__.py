"""Layer 6: tenants in their own PostgreSQL schemas, their domains and onboarding."""
