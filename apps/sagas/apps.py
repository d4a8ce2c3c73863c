from django.apps import AppConfig


class SagasConfig(AppConfig):
    name = "apps.sagas"
    label = "sagas"
