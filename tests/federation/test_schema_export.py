"""`manage.py export_graphql_schema`: SDL files operators can use with introspection off."""

from __future__ import annotations

from pathlib import Path

import graphql
from django.core.management import call_command

from apps.federation.schema import DOMAINS, subgraph_schema
from tests.federation.test_subgraphs import ENTITY_TYPES, FEDERATION_DEFINITIONS


def _keys(schema: graphql.GraphQLSchema, type_name: str) -> list[str]:
    named = schema.get_type(type_name)
    assert named is not None, f"{type_name} is missing"
    assert named.ast_node is not None
    return [graphql.print_ast(d.arguments[0].value) for d in named.ast_node.directives or ()
            if d.name.value == "key"]


def test_exports_each_subgraph_as_its_service_sdl_with_keys(tmp_path: Path) -> None:
    call_command("export_graphql_schema", "--out", str(tmp_path / "schema"))
    for domain in DOMAINS:
        text = (tmp_path / "schema" / f"{domain}.graphql").read_text("utf-8")
        served = subgraph_schema(domain).execute("{ _service { sdl } }")
        assert served.errors is None
        assert text.strip() == served.data["_service"]["sdl"].strip()
        schema = graphql.build_schema(FEDERATION_DEFINITIONS + text)
        for type_name in ENTITY_TYPES[domain]:
            assert _keys(schema, type_name), f"{type_name} has no @key in {domain}.graphql"


def test_exports_the_unified_schema_without_federation(tmp_path: Path) -> None:
    call_command("export_graphql_schema", "--out", str(tmp_path))
    schema = graphql.build_schema((tmp_path / "unified.graphql").read_text("utf-8"))
    query = schema.query_type
    assert query is not None
    assert {"customers", "products", "invoices", "saga", "sagas"} <= set(query.fields)
    assert schema.mutation_type is not None
    assert set(schema.mutation_type.fields) == {"createInvoice"}
    assert "_service" not in query.fields
    assert "_entities" not in query.fields
    assert _keys(schema, "Customer") == []
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["unified.graphql", *(f"{domain}.graphql" for domain in DOMAINS)])
