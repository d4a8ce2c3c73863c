"""Layer 4: the federated GraphQL API, one module per domain."""
