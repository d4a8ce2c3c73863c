"""`/graphql`: the unified schema; `/graphql/<domain>`: that domain's federation subgraph.

The routes are written in full (``graphql``, ``graphql/<domain>``) and the project's urls
include this module at the root: including it under ``graphql`` would need routes that
start with ``/``, which Django's URL checks rightly flag (urls.W002).
"""

from __future__ import annotations

from functools import partial

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from apps.federation.schema import DOMAINS, subgraph_schema, tenant_schema
from apps.federation.views import GraphQLView

app_name = "federation"

# API keys, not cookies, authenticate these endpoints: CSRF protection does not apply.
urlpatterns = [
    path("graphql", csrf_exempt(GraphQLView.as_view(schema_factory=tenant_schema)),
         name="graphql"),
    *(path(f"graphql/{domain}", csrf_exempt(GraphQLView.as_view(
        schema_factory=partial(subgraph_schema, domain), schema_name=domain)),
        name=f"graphql-{domain}") for domain in DOMAINS),
]
