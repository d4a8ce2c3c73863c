"""Onboarding issues one admin key; set_graphql_limits validates and stores overrides."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from apps.federation.limits import QueryLimits
from apps.tenancy.api_keys import verify_api_key
from apps.tenancy.models import ApiKey, Tenant


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_onboarding_prints_an_admin_key_once_and_not_on_rerun(db, settings):
    settings.KAFKA_PROVISION_TOPICS_ON_ONBOARD = False
    first = _call("onboard_tenant", "gqlsec_onb", "--domain", "gqlsec-onb.testserver")
    keys = [word for word in first.split() if word.startswith("dm_gqlsec_onb_")]
    assert len(keys) == 1
    assert "shown only this once" in first
    verified = verify_api_key(keys[0])
    assert verified is not None
    assert verified.scopes == {"read", "write", "admin"}

    second = _call("onboard_tenant", "gqlsec_onb", "--domain", "gqlsec-onb.testserver")
    assert "Already onboarded" in second
    assert "dm_" not in second
    assert ApiKey.objects.filter(tenant__schema_name="gqlsec_onb").count() == 1


def test_limits_are_set_merged_unset_and_cleared(tenant_a):
    slug = tenant_a.schema_name
    out = _call("set_graphql_limits", slug, "--max-depth", "8", "--introspection", "on")
    assert '"max_depth": 8' in out
    _call("set_graphql_limits", slug, "--max-cost", "900", "--rate-limit-per-minute", "60")
    tenant_a.refresh_from_db()
    assert tenant_a.graphql_limits == {"max_depth": 8, "introspection": True,
                                       "max_cost": 900, "rate_limit_per_minute": 60}
    limits = QueryLimits.for_tenant(slug)
    assert (limits.max_depth, limits.max_cost, limits.introspection) == (8, 900, True)
    assert limits.max_aliases == QueryLimits().max_aliases

    _call("set_graphql_limits", slug, "--unset", "max_depth")
    assert QueryLimits.for_tenant(slug).max_depth == 15
    assert "platform defaults" in _call("set_graphql_limits", slug, "--clear")
    assert Tenant.objects.get(pk=tenant_a.pk).graphql_limits == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-depth", "0"], "max_depth=0 is out of range"),
        (["--max-tokens", "10"], "max_tokens=10 is out of range"),
        (["--unset", "max_dept"], "unknown GraphQL limit 'max_dept'"),
    ],
)
def test_bad_limits_are_refused_with_a_clear_message(tenant_a, args, message):
    with pytest.raises(CommandError, match=message):
        _call("set_graphql_limits", tenant_a.schema_name, *args)
    tenant_a.refresh_from_db()
    assert tenant_a.graphql_limits == {}


def test_unknown_keys_in_stored_limits_fail_model_validation(tenant_a):
    from django.core.exceptions import ValidationError

    tenant_a.graphql_limits = {"max_dept": 3, "introspection": "yes"}
    with pytest.raises(ValidationError) as caught:
        tenant_a.full_clean()
    text = str(caught.value)
    assert "unknown GraphQL limit 'max_dept'" in text
    assert "introspection must be true or false" in text


def test_an_unknown_tenant_is_refused(db):
    with pytest.raises(CommandError, match="No tenant"):
        _call("set_graphql_limits", "no_such_tenant", "--max-depth", "5")
