"""deploy/vigil.service: runs `vigil run` as an unprivileged user with its environment file,
restarts on failure but not on a configuration error, and its examples name real keys."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.deploy.checks import DEPLOY, Unit, known_env_keys, secret_keys, systemd_unit


@pytest.fixture(scope="module")
def unit() -> Unit:
    return systemd_unit(DEPLOY / "vigil.service")


def test_it_runs_vigil_run_as_an_unprivileged_user(unit: Unit) -> None:
    command = shlex.split(unit.one("Service", "ExecStart"))
    assert Path(command[0]).name == "vigil" and command[1:] == ["run"]
    assert Path(command[0]).is_absolute()
    assert unit.one("Service", "User") not in {"root", "0"}
    assert unit.one("Install", "WantedBy") == "multi-user.target"


def test_environment_file_and_known_keys(unit: Unit) -> None:
    assert Path(unit.one("Service", "EnvironmentFile").lstrip("-")).is_absolute()
    env = unit.environment()
    assert set(env) <= known_env_keys() | {"MPLCONFIGDIR"}, sorted(set(env) - known_env_keys())
    assert env["HF_HUB_OFFLINE"] == "1"
    data_dir = env["VIGIL_DATA_DIR"]
    assert data_dir == "/var/lib/" + unit.one("Service", "StateDirectory")
    assert data_dir in unit.one("Service", "ReadWritePaths").split()


def test_restarts_on_failure_but_not_on_a_config_error(unit: Unit) -> None:
    assert unit.one("Service", "Restart") == "on-failure"
    assert "2" in unit.one("Service", "RestartPreventExitStatus").split()


def test_hardening(unit: Unit) -> None:
    for key, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
    }.items():
        assert unit.one("Service", key) == value, key
    assert unit.one("Service", "CapabilityBoundingSet") == ""


def test_the_credentials_example_names_secret_keys_and_loaded_credentials(unit: Unit) -> None:
    example = unit.environment(commented=True)
    assert "SLACK_BOT_TOKEN_FILE" in example
    credentials = {v.split(":", 1)[0] for k, v in unit.commented if k == "LoadCredential"}
    for key, path in example.items():
        assert key.removesuffix("_FILE") in secret_keys(), key
        assert path.startswith("%d/") and path.removeprefix("%d/") in credentials, key
