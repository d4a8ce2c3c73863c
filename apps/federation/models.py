"""GraphQL documents registered for a tenant (persisted documents), in its schema."""

from __future__ import annotations

from django.db import models


class PersistedDocument(models.Model):
    """A GraphQL document a tenant's clients may send by its SHA-256 alone, and, under
    the tenant's `registered_documents_only` setting, the only documents that may run."""

    sha256 = models.CharField(max_length=64, primary_key=True,
                              help_text="hex SHA-256 of the document's UTF-8 text")
    document = models.TextField(help_text="the GraphQL document, exactly as clients hash it")
    name = models.CharField(max_length=200, blank=True,
                            help_text="a label for operators, e.g. the operation's name")
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name", "sha256")

    def __str__(self) -> str:
        return f"{self.name or 'document'} ({self.sha256[:12]})"
