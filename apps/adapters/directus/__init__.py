"""The Directus adapter: customers from a Directus `customers` collection."""
