"""Authenticated `GET /schema-registry/subjects`: what a registry client waits for.

Baseline, same run: the same request with Basic credentials whose password is verified by
the full password hash every time (the project's default hasher, PBKDF2; what every
request cost before verified passwords were remembered). Then the two ways clients are
meant to authenticate: a tenant's API key (Bearer), and Basic credentials already verified
once. The registry holds SUBJECTS subjects, half of them the tenant's.

    .venv/bin/python bench/bench_registry_auth.py [--requests 200] [--subjects 200]
"""

from __future__ import annotations

import argparse
import base64
import json

from _support import percentile, progress, setup_django, summary, throwaway_tenant, time_calls

TENANT = "bench_registry"
USERNAME = "bench-registry-reader"
PASSWORD = "bench-registry-password-1"  # noqa: S105 - a throwaway user of this run
SCHEMA = {"type": "record", "name": "R", "namespace": "bench", "fields": [
    {"name": "id", "type": "string"}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--subjects", type=int, default=200)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_tenants.utils import schema_context

    from apps.catalog.schema_registry import auth, services
    from apps.catalog.schema_registry.models import Schema, Subject
    from apps.tenancy.services import add_member, create_api_key

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    users = get_user_model()
    with throwaway_tenant(TENANT), schema_context("public"):
        progress(f"registering {args.subjects} subjects")
        names = [f"{TENANT}.d.s.e{i}-value" if i % 2 else f"platform{i}-value"
                 for i in range(args.subjects)]
        for index, name in enumerate(names):
            schema = dict(SCHEMA, name=f"R{index}")
            services.register(name, json.dumps(schema))
        users.objects.filter(username=USERNAME).delete()
        add_member(TENANT, USERNAME, "viewer")
        user = users.objects.get(username=USERNAME)
        user.set_password(PASSWORD)
        user.save()
        _, key = create_api_key(TENANT, "bench registry reader", ["read"])
        basic = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        try:
            results = _measure(Client(), args.requests, basic, key, auth)
        finally:
            users.objects.filter(username=USERNAME).delete()
            subjects = Subject.objects.filter(name__in=names)
            schema_ids = list(subjects.values_list("versions__schema_id", flat=True))
            subjects.delete()
            Schema.objects.filter(pk__in=schema_ids, subject_versions__isnull=True).delete()
    baseline = percentile(results["password hashed every time (baseline)"], 50)
    print(f"GET /schema-registry/subjects, {args.subjects} subjects, {args.requests} requests")
    for label, samples in results.items():
        print(f"  {label:40s} {summary(samples)}  "
              f"x{baseline / percentile(samples, 50):.0f} faster than baseline")


def _measure(client, repeat: int, basic: str, key: str, auth) -> dict[str, list[float]]:
    def get(authorization: str) -> None:
        response = client.get("/schema-registry/subjects", HTTP_AUTHORIZATION=authorization)
        assert response.status_code == 200, response.content

    def uncached() -> None:
        auth.forget_verified_passwords()
        get(basic)

    progress("baseline: hashing the password on every request")
    hashed = time_calls(uncached, max(10, repeat // 10))
    get(basic)  # verified once
    progress("Basic, verified password remembered; API key")
    return {"password hashed every time (baseline)": hashed,
            "Basic, verified password remembered": time_calls(lambda: get(basic), repeat),
            "API key (Bearer)": time_calls(lambda: get(f"Bearer {key}"), repeat)}


if __name__ == "__main__":
    main()
