"""Renders and validates Slipway's Kubernetes manifests offline (tests/tests/deploy.rs).

Every kustomization under the root (the base and each overlay) is rendered by a small
renderer that knows exactly the kustomize features the manifests use (`resources`, and
`patches` given as strategic-merge files with a kind/name target) and refuses any other, so a
manifest can never rely on something unchecked. When `kubectl` is installed, its own
`kubectl kustomize` renders each one too and must agree. Every rendered resource, and every
file a kustomization lists, is validated against the Kubernetes OpenAPI schemas that
kubernetes-validate ships (strict: unknown fields are errors), for the oldest and the newest
Kubernetes release named below; KEDA's ScaledObject, which those schemas lack, gets a
structural check of its own. Sockets are disabled first, so the validation provably needs
no network.

Prints one JSON object: {"renders": [{"name", "resources"}], "kubectl": bool}; on any error,
prints the errors to stderr and exits 1. The Rust test checks the rendered containers against
the built binary (flags, ports, probe paths, image name).

usage: kube_manifests.py ROOT
"""

import copy
import json
import os
import shutil
import socket
import subprocess
import sys

import yaml
import kubernetes_validate

# The oldest Kubernetes release the manifests target, and the newest the package ships.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]

# Strategic merge: the lists Kubernetes merges item by item, with the key that pairs items.
# Every other list is replaced whole, as Kubernetes does for lists without a merge key.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "patches"}


class ManifestError(Exception):
    pass


def no_network(*_args, **_kwargs):
    raise ManifestError("the validation tried to open a network connection")


def load_documents(path):
    with open(path, encoding="utf-8") as file:
        return [doc for doc in yaml.safe_load_all(file) if doc is not None]


def key_of(resource):
    return (resource.get("kind"), resource.get("metadata", {}).get("name"))


def merge(base, patch, field=None):
    """Applies a strategic-merge patch (the subset described above) to a copy of base."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            if name.startswith("$"):
                raise ManifestError(f"patch directive {name!r} is not supported")
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = merge(merged[name], value, name)
            else:
                merged[name] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        merged = copy.deepcopy(base)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise ManifestError(f"an item of {field} has no {key}")
            for index, existing in enumerate(merged):
                if isinstance(existing, dict) and existing.get(key) == item[key]:
                    merged[index] = merge(existing, item)
                    break
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def render(directory, listed):
    """The resources a kustomization directory renders to; `listed` collects resource files."""
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(path):
        raise ManifestError(f"{directory} has no kustomization.yaml")
    with open(path, encoding="utf-8") as file:
        kustomization = yaml.safe_load(file) or {}
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise ManifestError(
            f"{path}: kustomize fields {sorted(unknown)} are not handled by this renderer "
            f"(it handles {sorted(KUSTOMIZATION_KEYS)}); extend tests/python/kube_manifests.py"
        )
    resources = []
    for entry in kustomization.get("resources", []):
        target = os.path.normpath(os.path.join(directory, entry))
        if os.path.isdir(target):
            resources.extend(render(target, listed))
        else:
            listed.add(target)
            resources.extend(load_documents(target))
    seen = set()
    for resource in resources:
        if key_of(resource) in seen:
            raise ManifestError(f"{path}: {key_of(resource)} is defined twice")
        seen.add(key_of(resource))
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path", "target"} or set(patch["target"]) != {"kind", "name"}:
            raise ManifestError(
                f"{path}: a patch must be a strategic-merge file with a kind/name target"
            )
        patch_path = os.path.join(directory, patch["path"])
        documents = load_documents(patch_path)
        if len(documents) != 1:
            raise ManifestError(f"{patch_path}: a patch file holds one document")
        target = (patch["target"]["kind"], patch["target"]["name"])
        if key_of(documents[0]) != target:
            raise ManifestError(f"{patch_path}: patches {key_of(documents[0])}, not {target}")
        matched = [i for i, resource in enumerate(resources) if key_of(resource) == target]
        if not matched:
            raise ManifestError(f"{path}: the patch target {target} is not among the resources")
        for index in matched:
            resources[index] = merge(resources[index], documents[0])
    return resources


def check_scaled_object(resource, resources):
    """KEDA's ScaledObject: what KEDA itself would refuse, and what must point at ours."""
    errors = []
    name = key_of(resource)
    if resource.get("apiVersion") != "keda.sh/v1alpha1":
        errors.append(f"{name}: apiVersion must be keda.sh/v1alpha1")
    spec = resource.get("spec", {})
    target = spec.get("scaleTargetRef", {})
    kind = target.get("kind", "Deployment")
    if (kind, target.get("name")) not in {key_of(r) for r in resources}:
        errors.append(f"{name}: scaleTargetRef {kind}/{target.get('name')} is not rendered")
    for field in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
        if field in spec and not isinstance(spec[field], int):
            errors.append(f"{name}: spec.{field} must be an integer")
    if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
        errors.append(f"{name}: minReplicaCount is above maxReplicaCount")
    triggers = spec.get("triggers") or []
    if not triggers:
        errors.append(f"{name}: spec.triggers is empty")
    for trigger in triggers:
        metadata = trigger.get("metadata", {})
        if trigger.get("type") != "prometheus":
            errors.append(f"{name}: only prometheus triggers are checked, not {trigger.get('type')}")
            continue
        for field in ("serverAddress", "query", "threshold"):
            if not isinstance(metadata.get(field), str) or not metadata[field]:
                errors.append(f"{name}: trigger metadata.{field} must be a non-empty string")
    return errors


def validate(resource, resources, where):
    if resource.get("kind") == "ScaledObject":
        return [f"{where}: {e}" for e in check_scaled_object(resource, resources)]
    errors = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(item) for item in err.path)
            errors.append(f"{where}: {key_of(resource)} on Kubernetes {version}: {path}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError as err:
            errors.append(f"{where}: {err.message}")
    return errors


def kubectl_render(directory):
    output = subprocess.run(
        ["kubectl", "kustomize", directory], capture_output=True, text=True, timeout=120
    )
    if output.returncode != 0:
        raise ManifestError(f"kubectl kustomize {directory} failed: {output.stderr}")
    return [doc for doc in yaml.safe_load_all(output.stdout) if doc is not None]


def main():
    root = os.path.normpath(sys.argv[1])
    kubectl = shutil.which("kubectl") is not None
    directories = sorted(
        dirpath for dirpath, _dirs, files in os.walk(root) if "kustomization.yaml" in files
    )
    # kubectl runs first: it may look for a cluster's config, never for manifests' data.
    kubectl_renders = {d: kubectl_render(d) for d in directories} if kubectl else {}
    socket.socket.connect = no_network
    socket.create_connection = no_network

    errors, renders, listed = [], [], set()
    for directory in directories:
        name = os.path.relpath(directory, root)
        try:
            resources = render(directory, listed)
        except (ManifestError, OSError, yaml.YAMLError) as err:
            errors.append(f"{name}: {err}")
            continue
        for resource in resources:
            errors.extend(validate(resource, resources, name))
        if kubectl:
            ours = {key_of(r): r for r in resources}
            theirs = {key_of(r): r for r in kubectl_renders[directory]}
            if ours != theirs:
                errors.append(f"{name}: kubectl kustomize renders it differently")
        renders.append({"name": name, "resources": resources})
    for path in sorted(listed):
        documents = load_documents(path)
        for resource in documents:
            errors.extend(validate(resource, documents + [r for x in renders for r in x["resources"]], path))
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"renders": renders, "kubectl": kubectl}))


if __name__ == "__main__":
    main()
