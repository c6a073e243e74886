"""deploy/docker-compose.yml (and its Slack override) and the Prometheus config it mounts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.checks import (
    DEPLOY,
    REPO,
    DockerIgnore,
    Mount,
    env_mapping,
    image_tag,
    known_env_keys,
    published_ports,
    secret_keys,
    version,
    yaml_documents,
)

COMPOSE = DEPLOY / "docker-compose.yml"
SLACK = DEPLOY / "docker-compose.slack.yml"
SERVICES = {"vigil", "prometheus", "node-exporter", "elasticsearch", "ollama", "jaeger"}
LOOPBACK = {"127.0.0.1", "::1"}


def _load(path: Path) -> dict[str, Any]:
    (doc,) = yaml_documents(path)
    return doc


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_it_has_the_stack_and_each_service_a_health_check(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) == SERVICES
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: no health check"


def test_images_are_pinned_and_vigils_is_this_version(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        tag = image_tag(service["image"])
        assert tag and tag != "latest", f"{name}: {service['image']} is not pinned"
    assert image_tag(services["vigil"]["image"]) == version()
    build = services["vigil"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )


def test_volumes_are_declared_and_mounted_files_exist(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, service in services.items():
        for mount in map(Mount.parse, service.get("volumes", [])):
            if mount.kind == "volume":
                used.add(mount.source)
            elif mount.relative:
                assert (COMPOSE.parent / mount.source).exists(), f"{name}: {mount.source}"
    assert used <= declared, sorted(used - declared)
    assert declared <= used, f"declared, never used: {sorted(declared - used)}"
    data_dir = env_mapping(services["vigil"]["environment"])["VIGIL_DATA_DIR"]
    assert any(
        m.kind == "volume" and m.target == data_dir
        for m in map(Mount.parse, services["vigil"]["volumes"])
    ), "VIGIL_DATA_DIR must be a named volume"


def test_dependencies_exist_and_wait_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), f"{name}: {sorted(set(depends) - set(services))}"
        for target, condition in depends.items():
            assert condition["condition"] == "service_healthy", f"{name} -> {target}"
    assert set(services["vigil"]["depends_on"]) == SERVICES - {"vigil", "node-exporter"}


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for host_ip, port in published_ports(service):
            assert host_ip in LOOPBACK, f"{name}: port {port} is published on every interface"


def test_vigil_reads_only_keys_it_knows_and_points_at_the_stack(
    services: dict[str, dict[str, Any]],
) -> None:
    vigil = services["vigil"]
    env = env_mapping(vigil["environment"])
    assert set(env) <= known_env_keys(), sorted(set(env) - known_env_keys())
    assert not set(env) & secret_keys(), "secrets belong in .env or files, not in compose"
    expected = {
        "PROMETHEUS_URL": "http://prometheus:9090",
        "ELASTICSEARCH_URL": "http://elasticsearch:9200",
        "JAEGER_URL": "http://jaeger:16686",
        "OLLAMA_HOST": "http://ollama:11434",
    }
    assert {k: env.get(k) for k in expected} == expected
    port = env["VIGIL_HTTP_PORT"]
    assert env["VIGIL_HTTP_HOST"] == "0.0.0.0"
    assert any(p == port for _, p in published_ports(vigil))
    assert f":{port}/healthz" in " ".join(vigil["healthcheck"]["test"])
    env_files = [e["path"] if isinstance(e, dict) else e for e in vigil.get("env_file", [])]
    assert env_files == ["../.env"]
    assert (COMPOSE.parent / "../.env.example").resolve().is_file()


def test_slack_override_reads_its_tokens_from_secret_files(
    services: dict[str, dict[str, Any]],
) -> None:
    override = _load(SLACK)
    assert set(override["services"]) <= set(services)
    vigil = override["services"]["vigil"]
    env = env_mapping(vigil["environment"])
    assert "SLACK_BOT_TOKEN_FILE" in env
    assert set(env) <= known_env_keys()
    declared = override["secrets"]
    ignore = DockerIgnore.of_repo()
    gitignore = (DEPLOY / "secrets" / ".gitignore").read_text()
    assert "*" in gitignore.splitlines(), "deploy/secrets must stay out of git"
    for key, path in env.items():
        assert key.endswith("_FILE") and key.removesuffix("_FILE") in secret_keys(), key
        name = Path(path).name
        assert path == f"/run/secrets/{name}" and name in vigil["secrets"], key
        source = (SLACK.parent / declared[name]["file"]).resolve()
        assert source.parent == DEPLOY / "secrets", f"{name}: keep secret files in deploy/secrets"
        assert ignore.excluded(str(source.relative_to(REPO))), f"{name} would enter the image"


@pytest.fixture(scope="module")
def prometheus_config(services: dict[str, dict[str, Any]]) -> Path:
    mounts = [Mount.parse(m) for m in services["prometheus"]["volumes"]]
    (config,) = [m for m in mounts if m.target == "/etc/prometheus/prometheus.yml"]
    assert f"--config.file={config.target}" in services["prometheus"]["command"]
    return (COMPOSE.parent / config.source).resolve()


def test_prometheus_scrapes_vigil_and_only_services_of_the_stack(
    prometheus_config: Path, services: dict[str, dict[str, Any]]
) -> None:
    config = yaml.safe_load(prometheus_config.read_text())
    port = env_mapping(services["vigil"]["environment"])["VIGIL_HTTP_PORT"]
    scraped: dict[str, str] = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                scraped[target] = job.get("metrics_path", "/metrics")
    assert scraped.get(f"vigil:{port}") == "/metrics"
    assert "node-exporter:9100" in scraped
    hosts = {target.rsplit(":", 1)[0] for target in scraped}
    assert hosts <= set(services) | {"localhost"}, sorted(hosts - set(services))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) absent")
def test_promtool_accepts_the_prometheus_config(prometheus_config: Path) -> None:
    result = subprocess.run(
        ["promtool", "check", "config", str(prometheus_config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
