"""One trace per GraphQL request: request → execution → root resolver, and each
DataLoader batch (with its key count) → the data product's source call → its HTTP."""

from __future__ import annotations

from opentelemetry import trace

from apps.adapters import services
from tests.federation.conftest import Api
from tests.observability.spans import attribute, chain, named, one, parent_of, recording_spans

QUERY = """query Traced($ids: [ID!]!) { customers(ids: $ids) { id
  invoices { id items { product { id name } } } } }"""


def test_a_nested_query_is_one_trace_down_to_the_sources_http(api: Api):
    ids = ["1", "2", "3"]
    services.data_product_for("customer").invalidate("customer", ids)
    with recording_spans() as exporter:
        body = api.query(QUERY, {"ids": ids})
        spans = exporter.get_finished_spans()
    assert "errors" not in body, body["errors"]

    execution = one(spans, "graphql query Traced")
    request = [s for s in spans if s.kind is trace.SpanKind.SERVER]
    assert len(request) == 1
    assert parent_of(execution, spans).context.span_id == request[0].context.span_id
    trace_id = request[0].context.trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}

    resolver = one(spans, "graphql resolve Query.customers")
    assert parent_of(resolver, spans).context.span_id == execution.context.span_id
    customers = one(spans, "dataloader entity:customer")
    assert attribute(customers, "graphql.dataloader.key_count") == 3
    source = one(spans, "source customers.query_entities")
    http = [s for s in spans if "/items/customers" in str(attribute(s, "http.url"))]
    assert len(http) == 1, "one HTTP request for the three customers"
    assert chain(http[0], spans)[1:] == [
        source.name, "dataloader entity:customer", "graphql query Traced", request[0].name]
    # One batch per level and type: the invoices of all three customers in one load.
    assert len(named(spans, "dataloader invoices-by-customer")) == 1
    products = one(spans, "dataloader entity:product")
    assert attribute(products, "graphql.dataloader.key_count") >= 1
