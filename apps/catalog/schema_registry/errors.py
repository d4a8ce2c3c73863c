"""Typed errors of the schema registry, each carrying its Confluent error code.

The codes are part of the contract (Confluent clients branch on them), so they live with
the errors; the HTTP status is derived from the code by the API layer.
"""

from __future__ import annotations


class SchemaRegistryError(Exception):
    """Base class; ``error_code`` is the Confluent Schema Registry error code."""

    error_code = 50001

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SubjectNotFound(SchemaRegistryError):
    error_code = 40401

    def __init__(self, subject: str) -> None:
        super().__init__(f"Subject '{subject}' not found.")


class VersionNotFound(SchemaRegistryError):
    error_code = 40402

    def __init__(self, version: int | str) -> None:
        super().__init__(f"Version {version} not found.")


class SchemaNotFound(SchemaRegistryError):
    error_code = 40403

    def __init__(self, message: str = "Schema not found") -> None:
        super().__init__(message)


class SubjectSoftDeleted(SchemaRegistryError):
    error_code = 40404

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"
        )


class SubjectNotSoftDeleted(SchemaRegistryError):
    error_code = 40405

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' was not deleted first before being permanently deleted"
        )


class VersionSoftDeleted(SchemaRegistryError):
    error_code = 40406

    def __init__(self, subject: str, version: int) -> None:
        super().__init__(
            f"Subject '{subject}' Version {version} was soft deleted. "
            "Set permanent=true to delete permanently"
        )


class VersionNotSoftDeleted(SchemaRegistryError):
    error_code = 40407

    def __init__(self, subject: str, version: int) -> None:
        super().__init__(
            f"Subject '{subject}' Version {version} was not deleted first before being "
            "permanently deleted"
        )


class SubjectCompatibilityNotConfigured(SchemaRegistryError):
    error_code = 40408

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' does not have subject-level compatibility configured"
        )


class SubjectModeNotConfigured(SchemaRegistryError):
    error_code = 40409

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' does not have subject-level mode configured: add "
            "?defaultToGlobal=true for the mode that applies to it"
        )


class IncompatibleSchema(SchemaRegistryError):
    # Confluent answered 409 here before 7.x introduced 40901; clients branch on HTTP 409.
    error_code = 409

    def __init__(self, level: str, messages: list[str]) -> None:
        super().__init__(
            f"Schema being registered is incompatible with an earlier schema for subject "
            f"under compatibility level {level}: " + "; ".join(messages)
        )
        self.messages = messages


class InvalidSchema(SchemaRegistryError):
    error_code = 42201


class InvalidVersion(SchemaRegistryError):
    error_code = 42202

    def __init__(self, version: object) -> None:
        super().__init__(
            f"The specified version '{version}' is not a valid version id. Allowed values "
            'are between [1, 2^31-1] and the string "latest"'
        )


class InvalidCompatibilityLevel(SchemaRegistryError):
    error_code = 42203

    def __init__(self, levels: tuple[str, ...] | list[str]) -> None:
        super().__init__(
            "Invalid compatibility level. Valid values are " + ", ".join(levels)
        )


class InvalidMode(SchemaRegistryError):
    error_code = 42204

    def __init__(self, modes: tuple[str, ...]) -> None:
        super().__init__("Invalid mode. Valid values are " + ", ".join(modes))


class OperationNotPermitted(SchemaRegistryError):
    """A read-only subject written to, an id given outside IMPORT mode, an import that
    would overwrite another schema's id."""

    error_code = 42205


class ReferenceExists(SchemaRegistryError):
    error_code = 42206

    def __init__(self, subject: str, version: int, schema_ids: list[int]) -> None:
        super().__init__(
            f"Subject '{subject}' version {version} is referenced by schemas "
            f"{schema_ids}: delete the versions that use those schemas first"
        )


class IdDoesNotMatch(SchemaRegistryError):
    error_code = 42207

    def __init__(self, wanted: int, existing: int) -> None:
        super().__init__(
            f"Schema id {wanted} does not match the id {existing} this schema already has: "
            f"a schema has one id; import it with id {existing}"
        )


class StoreError(SchemaRegistryError):
    error_code = 50001


class InvalidSubject(SchemaRegistryError):
    error_code = 42208

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"The specified subject '{subject}' is not valid: use 1-255 characters and no "
            "control characters"
        )


class Unauthorized(SchemaRegistryError):
    error_code = 40101

    def __init__(self) -> None:
        super().__init__("Unauthorized: send a tenant's API key (`Authorization: Bearer "
                         "<key>`, or as the Basic password) or Basic credentials of an "
                         "active user")


class Forbidden(SchemaRegistryError):
    error_code = 40301

    def __init__(self, message: str = "Forbidden: these credentials may not do this") -> None:
        super().__init__(message)


class TooManyFailures(SchemaRegistryError):
    """Sign-in throttling refused the credentials (HTTP 429)."""

    error_code = 42901

    def __init__(self, message: str) -> None:
        super().__init__(message)
