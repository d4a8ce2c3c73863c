"""Validate Kubernetes and Strimzi resources offline, as the API server would check them.

Kubernetes' own kinds are checked by kubernetes-validate against the API's schemas, in
strict mode (an unknown field is an error, as with ``kubectl apply --validate=strict``).
Strimzi's kinds are checked against the ``openAPIV3Schema`` of their CRDs, vendored
unchanged under ``deploy/k8s/schemas/strimzi-<version>/`` and made strict the same way
here: an object schema that lists its properties and does not preserve unknown fields
refuses any other.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import kubernetes_validate

STRIMZI_VERSION = "1.2.0"
STRIMZI_SCHEMAS = (Path(__file__).resolve().parent.parent / "deploy" / "k8s" / "schemas"
                   / f"strimzi-{STRIMZI_VERSION}")
STRIMZI_GROUP = "kafka.strimzi.io"
# The oldest Kubernetes minor release the manifests support, and the newest known here.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())


def validation_errors(resource: dict[str, Any]) -> list[str]:
    """Every schema error of ``resource``, each naming the kind, name and field path."""
    where = f"{resource.get('kind')} {resource.get('metadata', {}).get('name')!r}"
    group, _, version = str(resource.get("apiVersion", "")).rpartition("/")
    if group == STRIMZI_GROUP:
        validator = _strimzi_validator(str(resource.get("kind")), version)
        return [f"{where}: /{'/'.join(str(p) for p in error.instance_path)}: {error.message}"
                for error in validator.iter_errors(resource)]
    errors = []
    for kubernetes_version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(resource, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            # kubernetes-validate stops at the first error of a resource.
            path = "/".join(str(p) for p in exc.absolute_path)
            errors.append(f"{where} (Kubernetes {kubernetes_version}): /{path}: "
                          f"{exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{where}: {exc.message}")
    return errors


@cache
def _strimzi_validator(kind: str, version: str) -> Any:
    path = STRIMZI_SCHEMAS / f"{kind.lower()}-{version}.json"
    if not path.is_file():
        raise LookupError(f"No vendored Strimzi {STRIMZI_VERSION} schema for {kind} {version} "
                          f"({path.name}); Strimzi {STRIMZI_VERSION} serves kafka.strimzi.io/v1")
    schema = strict(json.loads(path.read_text(encoding="utf-8")))
    return jsonschema_rs.Draft4Validator(schema)


def strict(schema: Any) -> Any:
    """A copy of a structural schema in which objects refuse the fields they do not list."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema
