"""Live GraphQL: subscriptions over WebSocket (graphql-transport-ws), fed by the event fabric.

    source ──▶ outbox ──▶ Kafka ──▶ `live` consumer group (event_handlers.py)
        ──▶ channel layer on Redis, one group per tenant and kind (messages.py)
        ──▶ every ASGI process's sockets that subscribed (consumer.py)
        ──▶ the subscriber's selection, executed like a query (execution.py)

A socket speaks the `graphql-transport-ws` protocol (protocol.py), the one of the
`graphql-ws` JS library, Apollo Client and Python's `gql`. Its API key comes in
`connection_init` and is checked again while the socket lives (a revoked or expired key's
sockets close); the tenant comes from the host, as for HTTP. Documents go through the same
limits as queries (documents.py); per-key limits cap open subscriptions and inbound
messages per second (key_limits.py); each socket has a bounded queue, and a subscriber too
slow to drain it is closed instead of growing memory.
"""
