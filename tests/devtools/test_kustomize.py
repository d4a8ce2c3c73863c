"""The offline kustomize renderer: kustomize 5's results on small kustomizations, and a
clear refusal of what it does not render. (The expected outputs are what `kubectl
kustomize` 5.5 prints for the same directories.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devtools.kustomize import KustomizeError, render

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {
        "metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [
            {"name": "main", "image": "app:1", "env": [{"name": "A", "value": "1"}],
             "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "side", "image": "registry.local:5000/side:2"},
        ]}}},
}
POOL = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaNodePool",
        "metadata": {"name": "pool"},
        "spec": {"replicas": 3, "roles": ["broker", "controller"]}}


def write(directory: Path, name: str, *documents: object) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(yaml.safe_dump_all(documents), encoding="utf-8")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    write(tmp_path / "base", "app.yaml", DEPLOYMENT, POOL)
    write(tmp_path / "base", "kustomization.yaml", {"resources": ["app.yaml"]})
    return tmp_path


def test_an_overlay_patches_labels_namespaces_and_retags(base: Path):
    overlay = base / "overlay"
    write(overlay, "namespace.yaml", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "ns"}})
    write(overlay, "patch.yaml", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
        "spec": {"replicas": None, "template": {"spec": {"containers": [
            {"name": "main", "env": [{"name": "B", "value": "2"}],
             "resources": {"requests": {"cpu": "250m"}}},
            {"name": "extra", "image": "app:1"},
        ]}}}},
        {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaNodePool",
         "metadata": {"name": "pool"}, "spec": {"roles": ["broker"]}})
    write(overlay, "kustomization.yaml", {
        "namespace": "ns", "resources": ["../base", "namespace.yaml"],
        "labels": [{"pairs": {"team": "mesh"}}],
        "images": [{"name": "app", "newName": "ghcr.io/x/app", "newTag": "2"},
                   {"name": "registry.local:5000/side", "newTag": "3"}],
        "patches": [{"path": "patch.yaml"}],
    })
    deployment, pool, namespace = render(overlay)

    assert namespace["metadata"] == {"name": "ns", "labels": {"team": "mesh"}}
    assert deployment["metadata"] == {"name": "app", "namespace": "ns",
                                      "labels": {"team": "mesh"}}
    assert "replicas" not in deployment["spec"]  # null removes a key
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"a": "b"}
    containers = deployment["spec"]["template"]["spec"]["containers"]
    # The patch's items in its order, then the others.
    assert [c["name"] for c in containers] == ["main", "extra", "side"]
    main, extra, side = containers
    assert extra["image"] == main["image"] == "ghcr.io/x/app:2"
    assert side["image"] == "registry.local:5000/side:3"
    assert main["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
    assert main["resources"] == {"requests": {"cpu": "250m", "memory": "1Gi"}}
    # Lists of custom resources have no merge key: kustomize replaces them.
    assert pool["spec"] == {"replicas": 3, "roles": ["broker"]}
    assert pool["metadata"]["namespace"] == "ns"


@pytest.mark.parametrize(("kustomization", "message"), [
    ({"resources": ["../base"], "configMapGenerator": []}, "configMapGenerator not supported"),
    ({"resources": ["../base"], "patches": [{"patch": "x", "target": {"kind": "Pod"}}]},
     "patches are supported as {path: <file>} only"),
    ({"resources": ["../base"], "labels": [{"pairs": {"a": "b"}, "includeSelectors": True}]},
     "labels support `pairs` only"),
    ({"resources": ["../base", "../base/app.yaml"]}, "Deployment 'app' is declared twice"),
    ({"resources": ["missing.yaml"]}, "missing.yaml: no such file"),
])
def test_what_it_cannot_render_like_kustomize_is_refused(base: Path, kustomization, message):
    write(base / "overlay", "kustomization.yaml", kustomization)
    with pytest.raises(KustomizeError, match=message.replace("{", r"\{").replace("}", r"\}")):
        render(base / "overlay")


def test_a_patch_without_a_target_or_with_a_directive_is_refused(base: Path):
    overlay = base / "overlay"
    write(overlay, "kustomization.yaml", {"resources": ["../base"],
                                          "patches": [{"path": "patch.yaml"}]})
    write(overlay, "patch.yaml", {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": "other"}})
    with pytest.raises(KustomizeError, match="no Deployment 'other' to patch"):
        render(overlay)
    write(overlay, "patch.yaml", {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": "app"}, "$patch": "delete"})
    with pytest.raises(KustomizeError, match=r"directive '\$patch' is not supported"):
        render(overlay)
