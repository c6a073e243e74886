"""The ``vigil`` command as a user runs it: a real process, real exit codes, real output."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.standins import slack_api

VIGIL = [sys.executable, "-m", "bot"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(config_dir: Path, data_dir: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    repo = str(Path(__file__).resolve().parents[2])
    keep["PYTHONPATH"] = repo + os.pathsep + keep.get("PYTHONPATH", "")
    return {
        **keep,
        "VIGIL_CONFIG_DIR": str(config_dir),
        "VIGIL_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "VIGIL_HTTP_PORT": "0",  # the web console on any free port
    }


def _vigil(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        VIGIL + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, input=stdin
    )


def _fast_demo(config_dir: Path) -> None:
    """Four simulated minutes per second, alerts checked every second."""
    path = config_dir / "ai-config.yml"
    data = yaml.safe_load(path.read_text())
    data["demo"]["speed"] = 240
    data["demo"]["schedules"] = {"alerts": {"every": "1s", "timeout": "5s"}}
    path.write_text(yaml.safe_dump(data))


def test_help_lists_the_commands(env: dict[str, str], tmp_path: Path) -> None:
    result = _vigil(["--help"], env, tmp_path)
    assert result.returncode == 0
    for command in ("demo", "run", "doctor"):
        assert command in result.stdout


def test_unknown_command_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    assert _vigil(["frobnicate"], env, tmp_path).returncode == 2


@pytest.mark.slow
def test_demo_runs_for_its_duration_and_posts_channel_lines(
    env: dict[str, str], config_dir: Path, data_dir: Path, tmp_path: Path, promoted_model: Path
) -> None:
    _fast_demo(config_dir)
    result = _vigil(["demo", "--duration", "7", "--no-web"], env, tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[#general] Vigil demo: watching 12 hosts across 5 services")
    alert_lines = [line for line in lines if line.startswith("[#alerts] [")]
    assert alert_lines, result.stdout
    assert "vigil>" not in result.stdout  # stdin is not a terminal: no prompt
    assert "Traceback" not in result.stderr

    truth = [
        json.loads(line) for line in (data_dir / "demo_incidents.jsonl").read_text().splitlines()
    ]
    assert truth, "no ground truth written"
    for incident in truth:
        assert {"id", "type", "service", "host", "start", "end", "root_cause"} <= set(incident)
    assert truth[0]["host"] in "\n".join(alert_lines)
    assert (data_dir / "scheduler.sqlite").is_file()


@pytest.mark.slow
def test_demo_stops_cleanly_on_ctrl_c(
    env: dict[str, str], tmp_path: Path, promoted_model: Path
) -> None:
    process = subprocess.Popen(
        [*VIGIL, "demo", "--no-web"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("[#general]")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Demo stopped." in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_bad_config_stops_with_one_line_and_exit_2(
    env: dict[str, str], config_dir: Path, tmp_path: Path
) -> None:
    path = config_dir / "ai-config.yml"
    path.write_text(path.read_text().replace("speed: 60", "sped: 60"))
    for command in (["demo", "--duration", "1"], ["run", "--duration", "1"]):
        result = _vigil(command, env, tmp_path)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("vigil: config error: ")
        assert "demo.sped" in result.stderr and "did you mean 'speed'" in result.stderr


def test_bad_env_value_names_the_variable(env: dict[str, str], tmp_path: Path) -> None:
    result = _vigil(["run", "--duration", "1"], {**env, "VIGIL_HTTP_PORT": "99999"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "vigil: config error: environment: VIGIL_HTTP_PORT: input should be less than or "
        "equal to 65535 (got '99999')"
    )


def test_schedule_naming_an_unknown_job_exits_2(
    env: dict[str, str], config_dir: Path, tmp_path: Path
) -> None:
    path = config_dir / "ai-config.yml"
    data = yaml.safe_load(path.read_text())
    data["schedules"]["nightly"] = {"job": "digets", "cron": "0 3 * * *"}
    path.write_text(yaml.safe_dump(data))
    result = _vigil(["run", "--duration", "1"], env, tmp_path)
    assert result.returncode == 2
    assert "schedules.nightly.job" in result.stderr and result.stderr.count("\n") == 1


def test_run_stops_after_its_duration_with_its_jobs_stored(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    result = _vigil(["run", "--duration", "1"], {**env, "VIGIL_CONSOLE": "1"}, tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(data_dir / "scheduler.sqlite") as db:
        assert [row[0] for row in db.execute("select id from apscheduler_jobs order by id")] == [
            "alerts",
            "digest:digest",  # channels.yml's weekday digest
            "kb-maintain",
        ]


def test_doctor_with_nothing_configured_passes(env: dict[str, str], tmp_path: Path) -> None:
    result = _vigil(["doctor", "--quick"], env, tmp_path)
    assert result.returncode == 0, result.stdout
    assert "not configured" in result.stdout and "failed" not in result.stdout
    for component in (
        "config",
        "data dir",
        "embedding model",
        "knowledge store",
        "source prometheus",
        "source files",
        "Slack",
        "anomaly model",
    ):
        assert component in result.stdout
    assert "no model promoted yet" in result.stdout


def test_doctor_names_the_promoted_model(
    env: dict[str, str], tmp_path: Path, promoted_model: Path
) -> None:
    result = _vigil(["doctor", "--quick"], env, tmp_path)
    assert result.returncode == 0, result.stdout
    assert "v0001 promoted, threshold" in result.stdout
    (promoted_model / "v0001" / "model.txt").write_text("not a model")
    broken = _vigil(["doctor", "--quick"], env, tmp_path)
    assert broken.returncode == 1 and "vigil model train --promote" in broken.stdout


def test_doctor_checks_the_dataset_vocabulary(
    env: dict[str, str], tmp_path: Path, config_dir: Path
) -> None:
    result = _vigil(["doctor", "--quick"], env, tmp_path)
    assert "vocabulary: " in result.stdout and "prompts" in result.stdout
    path = config_dir / "question_styles.yaml"
    path.write_text(path.read_text().replace("\nstyles:", "\nstyle:", 1))
    broken = _vigil(["doctor", "--quick"], env, tmp_path)
    assert broken.returncode == 1 and "failed: datasets" in broken.stdout


def test_doctor_fails_for_a_configured_source_that_is_down(
    env: dict[str, str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = _vigil(["doctor", "--quick"], {**env, "PROMETHEUS_URL": url}, tmp_path)
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if "source prometheus" in line)
    assert "failed" in row and f"cannot reach Prometheus at {url}" in row
    assert "PROMETHEUS_URL" in row
    assert "1 component(s) failed: source prometheus" in result.stdout
    assert "source jaeger" in result.stdout  # every source has a row, configured or not


def test_doctor_checks_slack_against_the_web_api(env: dict[str, str], tmp_path: Path) -> None:
    good, bad = "xoxb-good-0000000000", "xoxb-bad-1111111111"
    with slack_api.serve({good}) as slack:
        base = {**env, "SLACK_API_URL": slack.url, "SLACK_SIGNING_SECRET": "abcdef123456"}
        ok = _vigil(["doctor", "--quick"], {**base, "SLACK_BOT_TOKEN": good}, tmp_path)
        failed = _vigil(["doctor", "--quick"], {**base, "SLACK_BOT_TOKEN": bad}, tmp_path)
    assert ok.returncode == 0, ok.stdout
    assert "signed in as vigil in Acme" in ok.stdout
    assert failed.returncode == 1 and "invalid_auth" in failed.stdout
    assert [c.method for c in slack.calls] == ["auth.test", "auth.test"]
    assert bad not in failed.stdout


def test_doctor_reports_bad_config_in_its_table(env: dict[str, str], tmp_path: Path) -> None:
    result = _vigil(["doctor"], {**env, "JAEGER_URL": "jaeger:16686"}, tmp_path)
    assert result.returncode == 2
    assert "JAEGER_URL" in result.stdout and "failed" in result.stdout


@pytest.mark.slow
def test_doctor_loads_the_real_embedding_model_offline(env: dict[str, str], tmp_path: Path) -> None:
    result = _vigil(["doctor"], env, tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout
    assert "loaded offline" in result.stdout and "dim 384" in result.stdout
