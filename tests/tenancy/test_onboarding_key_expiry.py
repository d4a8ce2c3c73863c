"""Onboarding can give the first admin API key an expiry."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.tenancy.models import ApiKey

pytestmark = pytest.mark.usefixtures("kafka_bootstrap")  # onboarding provisions topics


def test_the_first_admin_key_can_expire(db):
    out = io.StringIO()
    call_command("onboard_tenant", "epsilon", "--domain", "epsilon.example.com",
                 "--admin-key-expires-in-days", "7", stdout=out)
    key = ApiKey.objects.get(tenant__schema_name="epsilon")
    assert key.scopes == ["admin", "read", "write"]
    assert key.expires_at is not None
    assert timedelta(days=6) < key.expires_at - timezone.now() <= timedelta(days=7)
    assert "expires at" in out.getvalue()
