"""deploy/k8s: manifests that parse, reference only what exists, select the pods they mean, and
run the two roles of Vigil as documented."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.checks import (
    K8S,
    KNOWN_KINDS,
    REPO,
    by_name,
    container_env,
    containers,
    defined_names,
    generator_literals,
    image_tag,
    known_env_keys,
    kustomization,
    labels_match,
    manifest_files,
    manifests,
    of_kind,
    pod_templates,
    references,
    secret_keys,
    selected,
    version,
    yaml_documents,
)

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return manifests()


@pytest.fixture(scope="module")
def pods(docs: list[Doc]) -> dict[str, Doc]:
    return pod_templates(docs)


def test_every_manifest_parses_with_a_known_kind(docs: list[Doc]) -> None:
    assert len(manifest_files()) >= 8
    for doc in docs:
        assert (doc.get("apiVersion"), doc.get("kind")) in KNOWN_KINDS, doc.get("kind")
        assert doc["metadata"]["name"]
    kust = kustomization()
    assert (kust["apiVersion"], kust["kind"]) in KNOWN_KINDS
    assert {"Namespace", "Deployment", "Service", "ServiceMonitor", "Secret"} <= {
        d["kind"] for d in docs
    }


def test_kustomization_lists_files_that_exist_and_never_the_example_secret() -> None:
    kust = kustomization()
    resources = kust["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), resource
    assert "secret.example.yaml" not in resources, "placeholders must never be applied by -k"
    for generator in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []):
        for entry in generator.get("files", []):
            path = K8S / entry.split("=", 1)[-1]
            assert path.resolve().is_relative_to(K8S), f"{entry}: kustomize loads nothing outside"
            assert path.is_file(), entry
    (namespace,) = of_kind(yaml_documents(K8S / "namespace.yaml"), "Namespace")
    assert kust["namespace"] == namespace["metadata"]["name"] == "vigil"
    for path in manifest_files():
        if path.name not in resources:  # applied by hand: they must name the namespace
            for doc in yaml_documents(path):
                assert doc["metadata"].get("namespace") == "vigil", path.name


def test_the_config_map_copies_say_what_the_shipped_config_says() -> None:
    """kustomize reads nothing outside deploy/k8s, so the ConfigMap is made from copies."""
    (generator,) = [g for g in kustomization()["configMapGenerator"] if g["name"] == "vigil-config"]
    names = set()
    for entry in generator["files"]:
        copy = K8S / entry
        names.add(copy.name)
        shipped = REPO / "data_config" / copy.name
        assert yaml.safe_load(copy.read_text()) == yaml.safe_load(shipped.read_text()), (
            f"{copy.relative_to(REPO)} says something else than data_config/{copy.name}: "
            f"cp data_config/{copy.name} {copy.relative_to(REPO)}"
        )
    assert names == {"ai-config.yml", "channels.yml"}


def test_pods_use_only_config_maps_secrets_and_claims_that_are_defined(
    docs: list[Doc], pods: dict[str, Doc]
) -> None:
    defined = defined_names(docs)
    for deployment, template in pods.items():
        for kind, name in references(template["spec"]):
            assert name in defined.get(kind, set()), f"{deployment}: {kind} {name} is not defined"


def test_config_map_mounts_name_keys_the_generator_makes(pods: dict[str, Doc]) -> None:
    generated = {
        g["name"]: {Path(f.split("=", 1)[-1]).name for f in g.get("files", [])}
        | set(generator_literals(g["name"]))
        for g in kustomization()["configMapGenerator"]
    }
    for deployment, template in pods.items():
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        for container in containers(template["spec"]):
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if "configMap" in volume and "subPath" in mount:
                    keys = generated[volume["configMap"]["name"]]
                    assert mount["subPath"] in keys, f"{deployment}: {mount['subPath']}"
            assert {m["name"] for m in container.get("volumeMounts", [])} <= set(volumes)


def test_probes_name_declared_ports(pods: dict[str, Doc]) -> None:
    for deployment, template in pods.items():
        for container in containers(template["spec"]):
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            env = container_env(container)
            assert str(ports["http"]) == env["VIGIL_HTTP_PORT"], deployment
            expected = {"readinessProbe": "/readyz", "livenessProbe": "/livez"}
            for probe, path in expected.items():
                action = container[probe]["httpGet"]
                assert action["path"] == path and action["port"] in ports, (deployment, probe)
            if "startupProbe" in container:
                assert container["startupProbe"]["httpGet"]["port"] in ports
                assert container["startupProbe"]["httpGet"]["path"] == "/livez"


def test_services_select_pods_and_name_their_ports(docs: list[Doc], pods: dict[str, Doc]) -> None:
    for service in of_kind(docs, "Service"):
        chosen = selected(service["spec"]["selector"], list(pods.values()))
        assert chosen, f"Service {service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for template in chosen:
                declared = {
                    p.get("name") for c in containers(template["spec"]) for p in c["ports"]
                } | {p["containerPort"] for c in containers(template["spec"]) for p in c["ports"]}
                assert target in declared, (service["metadata"]["name"], target)
    chat = by_name(docs, "Service", "vigil")
    assert [p["name"] for p in chat["spec"]["ports"]] == ["http"]
    assert [p["port"] for p in chat["spec"]["ports"]] == [8080]
    assert labels_match(chat["spec"]["selector"], pods["vigil-chat"]["metadata"]["labels"])
    assert not labels_match(
        chat["spec"]["selector"], pods["vigil-scheduler"]["metadata"]["labels"]
    ), "Slack events must reach chat pods only"


def test_the_service_monitor_scrapes_metrics_of_every_vigil_pod(
    docs: list[Doc], pods: dict[str, Doc]
) -> None:
    (monitor,) = of_kind(docs, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = selected(selector, of_kind(docs, "Service"))
    assert len(services) == 1, "exactly one Service, or pods are scraped twice"
    (service,) = services
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert endpoint.get("path", "/metrics") == "/metrics"
    for deployment, template in pods.items():
        assert labels_match(service["spec"]["selector"], template["metadata"]["labels"]), (
            f"{deployment} is not scraped"
        )


def test_deployment_selectors_match_their_own_templates(docs: list[Doc]) -> None:
    for deployment in of_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels_match(deployment["spec"]["selector"]["matchLabels"], labels)
    for budget in of_kind(docs, "PodDisruptionBudget"):
        templates = [d["spec"]["template"] for d in of_kind(docs, "Deployment")]
        matched = selected(budget["spec"]["selector"]["matchLabels"], templates)
        assert len(matched) == 1, budget["metadata"]["name"]


def test_env_keys_are_keys_vigil_reads(pods: dict[str, Doc]) -> None:
    known = known_env_keys()
    for deployment, template in pods.items():
        for container in containers(template["spec"]):
            keys = set(container_env(container))
            for source in container.get("envFrom", []):
                keys |= set(generator_literals(source.get("configMapRef", {}).get("name", "")))
            assert keys <= known, f"{deployment}: {sorted(keys - known)}"
            assert not {k for k, v in container_env(container).items() if v} & secret_keys(), (
                f"{deployment}: a secret as a plain value"
            )
    assert set(generator_literals("vigil-env")) <= known


def test_roles_replicas_and_rollout(docs: list[Doc], pods: dict[str, Doc]) -> None:
    expected = {"vigil-chat": "chat", "vigil-scheduler": "scheduler"}
    assert set(pods) == set(expected)
    for name, role in expected.items():
        (container,) = pods[name]["spec"]["containers"]
        assert container_env(container)["VIGIL_ROLE"] == role
        deployment = by_name(docs, "Deployment", name)
        assert deployment["spec"]["replicas"] >= 2
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"


def test_secret_files_come_from_the_mounted_secret(docs: list[Doc], pods: dict[str, Doc]) -> None:
    (example,) = of_kind(yaml_documents(K8S / "secret.example.yaml"), "Secret")
    keys = set(example["stringData"])
    assert keys <= secret_keys() | {"AWS_ACCESS_KEY_ID"}, sorted(keys - secret_keys())
    for deployment, template in pods.items():
        spec = template["spec"]
        mounts = {m["mountPath"]: m["name"] for c in containers(spec) for m in c["volumeMounts"]}
        secret_name = example["metadata"]["name"]
        secret_volumes = {
            v["name"]
            for v in spec["volumes"]
            if v.get("secret", {}).get("secretName") == secret_name
        }
        for container in containers(spec):
            for key, value in container_env(container).items():
                if not key.endswith("_FILE"):
                    continue
                folder, _, name = (value or "").rpartition("/")
                assert mounts.get(folder) in secret_volumes, f"{deployment}: {key}={value}"
                assert name == key.removesuffix("_FILE") and name in keys, (deployment, key)
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in keys, (deployment, ref)


def test_pods_run_non_root_on_a_read_only_root(pods: dict[str, Doc]) -> None:
    for deployment, template in pods.items():
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        for container in containers(spec):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, deployment
            assert context["allowPrivilegeEscalation"] is False, deployment
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{deployment}: no writable /tmp"
            data_dir = container_env(container)["VIGIL_DATA_DIR"]
            assert "persistentVolumeClaim" in volumes[mounts[data_dir]], deployment
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_images_are_pinned_to_this_version(pods: dict[str, Doc]) -> None:
    for deployment, template in pods.items():
        for container in containers(template["spec"]):
            tag = image_tag(container["image"])
            assert tag and tag != "latest", f"{deployment}: {container['image']}"
    (image,) = kustomization()["images"]
    assert str(image["newTag"]) == version()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_it(pods: dict[str, Doc]) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    for doc in built:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "vigil", doc["metadata"]["name"]
    config_maps = {d["metadata"]["name"] for d in of_kind(built, "ConfigMap")}
    for template in pod_templates(built).values():
        for kind, name in references(template["spec"]):
            if kind == "ConfigMap":
                assert name in config_maps, name  # the hashed name, rewritten everywhere
        for container in template["spec"]["containers"]:
            assert container["image"].endswith(f":{version()}")
