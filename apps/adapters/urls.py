from django.urls import path

from apps.adapters.views import source_webhook

urlpatterns = [
    path("sources/<slug:name>", source_webhook, name="source-webhook"),
]
