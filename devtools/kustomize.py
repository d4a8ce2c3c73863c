"""Render the kustomizations under ``deploy/k8s`` offline, without the kustomize binary.

The suite validates what an overlay renders to, and no registry reachable from CI ships
kustomize. This renders the subset of kustomize the manifests use, the way kustomize 5
does: ``resources`` (files and directories), ``namespace``, ``labels`` (on metadata only),
``images`` and strategic-merge ``patches`` by path. Anything else in a kustomization is
refused with the field named, so a manifest can never rely on a feature rendered here
differently than on a cluster. ``kubectl kustomize <dir>`` gives the same resources.

    python -m devtools.kustomize deploy/k8s/overlays/prod   # prints the rendered YAML
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "namespace", "resources", "labels", "images", "patches"})
# Kinds without a namespace, which the namespace transformer leaves alone.
CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
})
# Lists of Kubernetes' own kinds that strategic merge merges item by item, with their keys
# (the patchMergeKey of the Kubernetes API); other lists, and every list of a custom
# resource (kustomize has no schema for them), are replaced whole.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "tolerations": ("key",),
}


class KustomizeError(ValueError):
    """A kustomization this renderer cannot render as kustomize would; says which part."""


def render(directory: Path | str) -> list[Resource]:
    """The resources the kustomization in ``directory`` renders to, in resource order."""
    root = Path(directory)
    kustomization = _load_kustomization(root)
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = root / entry
        resources += render(path) if path.is_dir() else _load_documents(path)
    _check_unique(resources, root)
    for patch in kustomization.get("patches", []):
        _apply_patch_file(resources, root, patch)
    for label_set in kustomization.get("labels", []):
        _apply_labels(resources, label_set, root)
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        _apply_image(resources, image)
    return resources


def resource_id(resource: Resource) -> tuple[str, str, str]:
    """(group, kind, name): what kustomize matches a patch to."""
    group = resource["apiVersion"].rpartition("/")[0]
    return group, resource["kind"], resource["metadata"]["name"]


def strategic_merge(original: Any, patch: Any, *, builtin: bool, field: str = "") -> Any:
    """``patch`` merged into ``original`` as kustomize's strategic merge does it.

    Maps merge key by key (``null`` removes a key); lists of Kubernetes' kinds in
    MERGE_KEYS merge item by item (the patch's items in its order, then the other
    original items, as kustomize orders them); any other value, or list, is replaced.
    """
    if isinstance(original, dict) and isinstance(patch, dict):
        merged = dict(original)
        for key, value in patch.items():
            if isinstance(key, str) and key.startswith("$"):
                raise KustomizeError(f"patch directive {key!r} is not supported here")
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, builtin=builtin, field=key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    keys = MERGE_KEYS.get(field) if builtin else None
    if keys and isinstance(original, list) and isinstance(patch, list):
        return _merge_list(original, patch, keys, builtin)
    return copy.deepcopy(patch)


def _merge_list(original: list[Any], patch: list[Any], keys: tuple[str, ...],
                builtin: bool) -> list[Any]:
    def key_of(item: Any) -> tuple[Any, ...]:
        if not isinstance(item, dict):
            raise KustomizeError(f"expected a list of maps keyed by {keys}, got {item!r}")
        return tuple(item.get(k) for k in keys)

    originals = {key_of(item): item for item in original}
    patched = {key_of(item) for item in patch}
    merged = [strategic_merge(originals[key_of(item)], item, builtin=builtin)
              if key_of(item) in originals else copy.deepcopy(item) for item in patch]
    return merged + [copy.deepcopy(item) for item in original if key_of(item) not in patched]


def _load_kustomization(root: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_FILES:
        path = root / name
        if path.is_file():
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            break
    else:
        raise KustomizeError(f"{root}: no kustomization.yaml")
    if not isinstance(document, dict):
        raise KustomizeError(f"{path}: not a mapping")
    unsupported = sorted(set(document) - SUPPORTED_FIELDS)
    if unsupported:
        raise KustomizeError(
            f"{path}: {', '.join(unsupported)} not supported by the offline renderer "
            f"(it renders {', '.join(sorted(SUPPORTED_FIELDS))}); keep to those, or extend "
            "devtools/kustomize.py and compare with `kubectl kustomize`")
    return document


def _load_documents(path: Path) -> list[Resource]:
    if not path.is_file():
        raise KustomizeError(f"{path}: no such file")
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    for document in documents:
        if not isinstance(document, dict) or not {"apiVersion", "kind", "metadata"} <= set(
                document) or "name" not in (document.get("metadata") or {}):
            raise KustomizeError(f"{path}: every document needs apiVersion, kind and "
                                 "metadata.name")
    return documents


def _check_unique(resources: Iterable[Resource], root: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for resource in resources:
        rid = resource_id(resource)
        if rid in seen:
            raise KustomizeError(f"{root}: {rid[1]} {rid[2]!r} is declared twice")
        seen.add(rid)


def _apply_patch_file(resources: list[Resource], root: Path, patch: Any) -> None:
    if not isinstance(patch, dict) or set(patch) != {"path"}:
        raise KustomizeError(f"{root}: patches are supported as {{path: <file>}} only, "
                             f"not {patch!r}")
    for document in _load_documents(root / patch["path"]):
        target = resource_id(document)
        matches = [i for i, r in enumerate(resources) if resource_id(r) == target]
        if not matches:
            raise KustomizeError(f"{root / patch['path']}: no {target[1]} {target[2]!r} "
                                 "to patch")
        index = matches[0]
        builtin = "." not in target[0] or target[0].endswith(".k8s.io")
        resources[index] = strategic_merge(resources[index], document, builtin=builtin)


def _apply_labels(resources: list[Resource], label_set: Any, root: Path) -> None:
    if not isinstance(label_set, dict) or set(label_set) - {"pairs"}:
        raise KustomizeError(f"{root}: labels support `pairs` only (metadata labels), "
                             f"not {label_set!r}")
    for resource in resources:
        labels = resource["metadata"].setdefault("labels", {})
        labels.update(label_set["pairs"])


def _pod_specs(resource: Resource) -> list[dict[str, Any]]:
    spec = resource.get("spec") or {}
    if resource["kind"] == "Pod":
        return [spec]
    if resource["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    template = spec.get("template") if isinstance(spec, dict) else None
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        return [template["spec"]]
    return []


def _split_image(image: str) -> tuple[str, str]:
    """(repository, tag); a registry's port (``host:5000/app``) is no tag."""
    image = image.partition("@")[0]
    colon = image.rfind(":")
    if colon > image.rfind("/"):
        return image[:colon], image[colon + 1:]
    return image, ""


def _apply_image(resources: list[Resource], image: dict[str, Any]) -> None:
    name = image["name"]
    for resource in resources:
        for pod in _pod_specs(resource):
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                repository, tag = _split_image(container.get("image", ""))
                if repository != name:
                    continue
                new_name = image.get("newName", repository)
                if "digest" in image:
                    container["image"] = f"{new_name}@{image['digest']}"
                else:
                    new_tag = image.get("newTag", tag)
                    container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="a directory with a kustomization.yaml")
    args = parser.parse_args(argv)
    try:
        resources = render(args.directory)
    except KustomizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(resources, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
