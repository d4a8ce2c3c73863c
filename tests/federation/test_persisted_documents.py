"""Persisted documents over HTTP: Apollo's APQ protocol (a document's SHA-256 instead of
its text), and a tenant that runs only the documents it registered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from apps.federation.models import PersistedDocument
from apps.federation.persisted import forget_registered, sha256_of
from apps.tenancy.api_keys import create_api_key
from apps.tenancy.graphql_limits import set_tenant_graphql_limits
from tests.conftest import tenant_host
from tests.federation.conftest import Api
from tests.federation.expected import PRODUCTS

PRODUCT = '{ product(id: "SKU-00001") { id name } }'
ANSWER = {"data": {"product": {"id": "SKU-00001", "name": PRODUCTS["SKU-00001"]["name"]}}}


def _hashed(digest: str, version: Any = 1) -> dict[str, Any]:
    return {"extensions": {"persistedQuery": {"version": version, "sha256Hash": digest}}}


def _code(response: Any) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


@pytest.fixture
def registered_only(api: Api) -> Iterator[Api]:
    set_tenant_graphql_limits(api.tenant, {"registered_documents_only": True})
    yield api
    forget_registered()


def test_apq_a_hash_unknown_then_sent_with_its_text_then_known(api: Api):
    digest = sha256_of(PRODUCT)
    missing = api.post("", body=_hashed(digest))
    assert missing.status_code == 400  # a request error, under graphql-response+json
    assert _code(missing) == "PERSISTED_QUERY_NOT_FOUND"
    assert "data" not in missing.json()
    # As Apollo Client does under application/json: the same error with a 200.
    assert api.post("", body=_hashed(digest), accept="application/json").status_code == 200

    registered = api.post("", body={"query": PRODUCT, **_hashed(digest)})
    assert registered.status_code == 200, registered.content
    assert registered.json() == ANSWER
    assert api.post("", body=_hashed(digest)).json() == ANSWER

    # GET, as a CDN-friendly client sends it: extensions as JSON text.
    got = api.client.get("/graphql", {"extensions": json.dumps(_hashed(digest)["extensions"])},
                         HTTP_HOST=api.host, HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert got.status_code == 200, got.content
    assert got.json() == ANSWER


def test_apq_documents_stay_in_their_tenant(api: Api, tenant_b):
    text = "{ __typename }"
    assert api.post("", body={"query": text, **_hashed(sha256_of(text))}).status_code == 200
    _, key_b = create_api_key(tenant_b.schema_name, "tenant b reader", ["read"])
    response = Client().post("/graphql", data=_hashed(sha256_of(text)),
                             content_type="application/json",
                             HTTP_HOST=tenant_host(tenant_b.schema_name),
                             HTTP_AUTHORIZATION=f"Bearer {key_b}")
    assert response.status_code == 200  # application/json: the request error's 200
    assert _code(response) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(("body", "code"), [
    ({"query": PRODUCT, **_hashed("0" * 64)}, "PERSISTED_QUERY_HASH_MISMATCH"),
    (_hashed(sha256_of(PRODUCT), version=2), "PERSISTED_QUERY_NOT_SUPPORTED"),
    ({"extensions": {"persistedQuery": "abc"}}, "PERSISTED_QUERY_NOT_SUPPORTED"),
    (_hashed("XYZ"), "BAD_REQUEST"),
    (_hashed(sha256_of(PRODUCT).upper()), "BAD_REQUEST"),
    ({"query": PRODUCT, "extensions": [1]}, "BAD_REQUEST"),
])
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
def test_a_malformed_persisted_query_is_400_under_both(api: Api, body: dict, code: str,
                                                       accept: str):
    response = api.post("", body=body, accept=accept)
    assert response.status_code == 400, response.content
    assert _code(response) == code


def test_registered_only_runs_registered_documents_alone(registered_only: Api,
                                                         tmp_path: Path):
    api = registered_only
    refused = api.post(PRODUCT)
    assert refused.status_code == 400
    assert _code(refused) == "PERSISTED_QUERY_NOT_IN_LIST"
    assert "register_graphql_documents" in refused.json()["errors"][0]["message"]

    (tmp_path / "product.graphql").write_text(PRODUCT, "utf-8")
    call_command("register_graphql_documents", "--tenant", api.tenant,
                 str(tmp_path / "product.graphql"))
    assert api.post(PRODUCT).json() == ANSWER  # by its text
    assert api.post("", body=_hashed(sha256_of(PRODUCT))).json() == ANSWER  # by its hash

    # A client cannot register a document of its own through APQ.
    other = '{ product(id: "SKU-00002") { id } }'
    attempt = api.post("", body={"query": other, **_hashed(sha256_of(other))})
    assert _code(attempt) == "PERSISTED_QUERY_NOT_IN_LIST"
    set_tenant_graphql_limits(api.tenant, {"registered_documents_only": False})
    assert _code(api.post("", body=_hashed(sha256_of(other)))) == "PERSISTED_QUERY_NOT_FOUND"


def test_the_command_registers_a_manifest_lists_and_removes(api: Api, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture):
    bodies = {"Product": PRODUCT, "Customer": 'query Customer { customer(id: "1") { id } }'}
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": sha256_of(body), "name": name, "type": "query", "body": body}
        for name, body in bodies.items()]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    call_command("register_graphql_documents", "--tenant", api.tenant,
                 str(tmp_path / "manifest.json"), "--list")
    listed = capsys.readouterr().out
    for name, body in bodies.items():
        assert f"{sha256_of(body)}  {name}" in listed
    assert PersistedDocument.objects.count() == 2

    call_command("register_graphql_documents", "--tenant", api.tenant,
                 "--remove", sha256_of(PRODUCT))
    assert list(PersistedDocument.objects.values_list("name", flat=True)) == ["Customer"]


@pytest.mark.parametrize(("content", "message"), [
    ("{ product(id: ", "Syntax Error"),
    ("{ product(id: \"1\") { shoeSize } }", "shoeSize"),
    (json.dumps({"format": "apollo-persisted-query-manifest", "operations": [
        {"id": "0" * 64, "body": PRODUCT}]}), "not the SHA-256"),
    (json.dumps({"operations": []}), "not an Apollo persisted-query manifest"),
])
def test_the_command_refuses_bad_documents_and_registers_nothing(api: Api, tmp_path: Path,
                                                                 content: str, message: str):
    suffix = ".json" if content.startswith("{\"") else ".graphql"
    path = tmp_path / f"doc{suffix}"
    path.write_text(content, "utf-8")
    good = tmp_path / "good.graphql"
    good.write_text(PRODUCT, "utf-8")
    with pytest.raises(CommandError, match=message):
        call_command("register_graphql_documents", "--tenant", api.tenant, str(good),
                     str(path))
    assert PersistedDocument.objects.count() == 0


def test_the_command_names_an_unknown_tenant(api: Api):
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("register_graphql_documents", "--tenant", "nope", "--list")


def test_the_admin_registers_a_checked_document_by_its_hash(api: Api, client: Client):
    user = get_user_model().objects.create_superuser("operator", "", "pw-operator-1")
    client.force_login(user)
    client.defaults["HTTP_HOST"] = api.host
    url = "/admin/federation/persisteddocument/add/"
    bad = client.post(url, {"name": "broken", "document": "{ product(id: \"1\") { nope } }"})
    assert bad.status_code == 200  # the form again, with the error
    assert "not a valid document of the API" in bad.content.decode()
    assert PersistedDocument.objects.count() == 0

    saved = client.post(url, {"name": "Product", "document": PRODUCT})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    document = PersistedDocument.objects.get()
    assert (document.sha256, document.name) == (sha256_of(PRODUCT), "Product")
