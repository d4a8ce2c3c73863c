from django.apps import AppConfig


class AdaptersConfig(AppConfig):
    name = "apps.adapters"
    label = "adapters"
    verbose_name = "Sources"

    def ready(self) -> None:
        from apps.adapters.health import sources_detail
        from dictamesh.health.checks import register_detail

        register_detail("sources", sources_detail)
