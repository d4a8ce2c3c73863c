"""The Celery application: the worker and beat process roles of the one image."""

from __future__ import annotations

import os

from celery import Celery

from dictamesh.tenancy import install_tenant_propagation

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dictamesh")
install_tenant_propagation(app)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
