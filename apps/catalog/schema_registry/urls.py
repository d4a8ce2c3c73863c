"""Confluent Schema Registry paths, mounted at /schema-registry/ (no trailing slashes:
clients build these URLs themselves)."""

from django.urls import path, re_path

from apps.catalog.schema_registry import views

app_name = "schema_registry"

urlpatterns = [
    path("subjects", views.SubjectListView.as_view(), name="subjects"),
    path("subjects/<str:subject>", views.SubjectView.as_view(), name="subject"),
    path("subjects/<str:subject>/versions", views.SubjectVersionListView.as_view(),
         name="subject-versions"),
    path("subjects/<str:subject>/versions/<str:version>", views.SubjectVersionView.as_view(),
         name="subject-version"),
    path("subjects/<str:subject>/versions/<str:version>/referencedby",
         views.ReferencedByView.as_view(), name="subject-version-referencedby"),
    path("subjects/<str:subject>/versions/<str:version>/schema",
         views.SubjectVersionSchemaView.as_view(), name="subject-version-schema"),
    path("schemas/types", views.SchemaTypesView.as_view(), name="schema-types"),
    # <str:>: a non-integer id is the registry's JSON 404, not the site's HTML one.
    path("schemas/ids/<str:schema_id>", views.SchemaByIdView.as_view(), name="schema"),
    path("schemas/ids/<str:schema_id>/schema", views.SchemaTextByIdView.as_view(),
         name="schema-text"),
    path("schemas/ids/<str:schema_id>/subjects", views.SchemaSubjectsByIdView.as_view(),
         name="schema-subjects"),
    path("schemas/ids/<str:schema_id>/versions", views.SchemaVersionsByIdView.as_view(),
         name="schema-versions"),
    path("compatibility/subjects/<str:subject>/versions", views.CompatibilityView.as_view(),
         name="compatibility-all"),
    path("compatibility/subjects/<str:subject>/versions/<str:version>",
         views.CompatibilityView.as_view(), name="compatibility"),
    path("config", views.GlobalConfigView.as_view(), name="config"),
    path("config/<str:subject>", views.SubjectConfigView.as_view(), name="subject-config"),
    path("mode", views.GlobalModeView.as_view(), name="mode"),
    path("mode/<str:subject>", views.SubjectModeView.as_view(), name="subject-mode"),
    path("contexts", views.ContextListView.as_view(), name="contexts"),
    # Anything else under the registry is a Confluent-style JSON 404.
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not-found"),
]
