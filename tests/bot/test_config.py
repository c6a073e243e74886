from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import load_settings
from knowledge.errors import ConfigError


def _edit(config_dir: Path, name: str, change) -> None:
    path = config_dir / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def _load(config_dir: Path, tmp_path: Path, env_text: str = "", **environ: str):
    env_file = tmp_path / ".env"
    env_file.write_text(env_text)
    return load_settings(config_dir=config_dir, env_file=env_file, environ=environ)


def test_shipped_config_loads_with_baselines_and_schedules(
    config_dir: Path, tmp_path: Path
) -> None:
    settings = _load(config_dir, tmp_path)
    latency = settings.ai.analysis.baseline_for("latency_p95_ms")
    assert latency is not None and latency.max == 200
    assert settings.ai.schedules["alerts"].every.total_seconds() == 60
    assert settings.channels.route("alerts") == "alerts"
    assert settings.env.VIGIL_HTTP_PORT == 8080


def test_misspelt_yaml_key_names_key_file_and_suggestion(config_dir: Path, tmp_path: Path) -> None:
    _edit(config_dir, "ai-config.yml", lambda d: d["analysis"].update(baselnes=[]))
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "analysis.baselnes" in message
    assert "ai-config.yml" in message
    assert "did you mean 'baselines'" in message


def test_bad_value_type_names_key_and_expectation(config_dir: Path, tmp_path: Path) -> None:
    _edit(config_dir, "ai-config.yml", lambda d: d["demo"].update(speed="fast"))
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path)
    assert err.value.key == "demo.speed"
    assert "number" in err.value.expected
    assert "'fast'" in str(err.value)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"every": "5 parsecs"}, "duration"),
        ({"cron": "61 * * * *"}, "crontab"),
        ({"every": "1m", "cron": "* * * * *"}, "exactly one"),
        ({"every": "1m", "timezone": "Mars/Olympus"}, "time zone"),
        ({"every": "0s"}, "above zero"),
    ],
)
def test_schedule_errors(config_dir: Path, tmp_path: Path, schedule: dict, expected: str) -> None:
    _edit(config_dir, "ai-config.yml", lambda d: d["schedules"].update(alerts=schedule))
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path)
    assert str(err.value).startswith(str(config_dir / "ai-config.yml") + ": schedules.alerts")
    assert expected in str(err.value)


def test_invalid_yaml_reports_line(config_dir: Path, tmp_path: Path) -> None:
    (config_dir / "channels.yml").write_text("channels:\n  alerts: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path)
    assert "channels.yml" in str(err.value) and "line" in err.value.key


def test_route_to_undefined_channel(config_dir: Path, tmp_path: Path) -> None:
    _edit(config_dir, "channels.yml", lambda d: d["routes"].update(alerts="pager"))
    with pytest.raises(ConfigError, match="'pager', which is not defined"):
        _load(config_dir, tmp_path)


def test_bad_regex_in_privacy(config_dir: Path, tmp_path: Path) -> None:
    _edit(config_dir, "ai-config.yml", lambda d: d["privacy"].update(extra_patterns=["(open"]))
    with pytest.raises(ConfigError, match=r"privacy\.extra_patterns"):
        _load(config_dir, tmp_path)


def test_env_file_bad_port_names_the_env_file(config_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path, env_text="VIGIL_HTTP_PORT=eighty\n")
    assert err.value.key == "VIGIL_HTTP_PORT"
    assert err.value.source.endswith(".env")
    assert "integer" in err.value.expected


def test_environment_overrides_env_file_and_is_named(config_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(
            config_dir,
            tmp_path,
            env_text="PROMETHEUS_URL=http://ok:9090\n",
            PROMETHEUS_URL="prometheus:9090",
        )
    assert err.value.source == "environment"
    assert "http://" in err.value.expected


def test_unknown_env_file_key_is_an_error(config_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'PROMETHEUS_URL'"):
        _load(config_dir, tmp_path, env_text="PROMETHEUS_ULR=http://x:9090\n")


def test_secret_values_are_masked_in_errors(config_dir: Path, tmp_path: Path) -> None:
    settings = _load(
        config_dir,
        tmp_path,
        env_text="SLACK_BOT_TOKEN=xoxb-123456789-secret\nOLLAMA_HOST=localhost:11434\n",
    )
    assert settings.env.secret_values() == ["xoxb-123456789-secret"]
    assert "secret" not in repr(settings.env)
    assert settings.env.OLLAMA_HOST == "http://localhost:11434"


def test_empty_env_values_count_as_unset(config_dir: Path, tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    settings = _load(config_dir, tmp_path, env_text=example)
    assert settings.env.PROMETHEUS_URL is None
    assert settings.env.SLACK_BOT_TOKEN is None


def test_env_example_documents_every_key() -> None:
    from bot.config import ENV_KEYS

    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for key in ENV_KEYS:
        assert f"\n{key}=" in example, key


def test_misspelt_key_inside_a_schedule_gets_its_hint(config_dir: Path, tmp_path: Path) -> None:
    _edit(config_dir, "ai-config.yml", lambda d: d["schedules"]["alerts"].update(timout="5s"))
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path)
    assert err.value.key == "schedules.alerts.timout"
    assert "did you mean 'timeout'" in str(err.value)


def test_access_and_chat_limits_load_with_one_line_errors(config_dir: Path, tmp_path: Path) -> None:
    settings = _load(config_dir, tmp_path)
    assert settings.channels.access.slack.channels == ("alerts", "ops")
    assert settings.channels.access.web.users == ("*",)
    assert settings.ai.chat.requests == 20 and settings.ai.chat.per.total_seconds() == 60

    _edit(config_dir, "channels.yml", lambda d: d.update(access={"slack": {"user": ["U1"]}}))
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path)
    assert "access.slack.user" in str(err.value) and "did you mean 'users'" in str(err.value)

    # a Slack channel name given for a Vigil one means that Vigil channel; ids stay ids
    slack = {"users": "U1", "channels": ["#vigil-alerts", "C0123"]}
    _edit(config_dir, "channels.yml", lambda d: d.update(access={"slack": slack}))
    rule = _load(config_dir, tmp_path).channels.access.slack
    assert rule.users == ("U1",) and rule.channels == ("alerts", "C0123")

    _edit(config_dir, "channels.yml", lambda d: d.update(access={"web": {"users": ["alice"]}}))
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path)
    assert "access.web" in str(err.value) and "no sign-in" in str(err.value)

    for bad in ("often", "0s"):
        _edit(config_dir, "ai-config.yml", lambda d, bad=bad: d["chat"].update(per=bad))
        with pytest.raises(ConfigError) as err:
            _load(config_dir, tmp_path)
        assert "chat.per" in str(err.value)


def test_without_access_the_channels_that_get_alerts_may_act(
    config_dir: Path, tmp_path: Path
) -> None:
    def route(data: dict) -> None:
        data["channels"]["payments-oncall"] = {"slack": "#payments-oncall"}
        data["channels"]["incidents"] = {}
        data["routes"]["alerts"] = "incidents"
        data["alert_routes"] = [{"service": "payments*", "channel": "payments-oncall"}]

    _edit(config_dir, "channels.yml", route)
    access = _load(config_dir, tmp_path).channels.access
    assert access.slack.channels == ("incidents", "ops", "payments-oncall")
    assert access.discord.channels == access.slack.channels


def test_the_web_console_needs_a_token_off_loopback(config_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path, VIGIL_HTTP_HOST="0.0.0.0")
    message = str(err.value)
    assert message.startswith("environment: VIGIL_WEB_TOKEN: required when VIGIL_HTTP_HOST")
    assert "got" not in message
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path, VIGIL_HTTP_HOST="0.0.0.0", VIGIL_WEB_TOKEN="short")
    assert "at least 16 characters" in str(err.value) and "short" not in str(err.value)
    token = "0123456789abcdef0123"
    bound = _load(config_dir, tmp_path, VIGIL_HTTP_HOST="0.0.0.0", VIGIL_WEB_TOKEN=token)
    assert bound.env.web_console_on()
    off = _load(config_dir, tmp_path, VIGIL_HTTP_HOST="0.0.0.0", VIGIL_WEB_CONSOLE="OFF")
    assert not off.env.web_console_on()
    # Slack in HTTP mode behind a load balancer: the console is off (auto), no token needed
    slack = _load(
        config_dir,
        tmp_path,
        VIGIL_HTTP_HOST="0.0.0.0",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
    )
    assert not slack.env.web_console_on() and slack.env.VIGIL_WEB_TOKEN is None
    with pytest.raises(ConfigError):
        _load(
            config_dir,
            tmp_path,
            VIGIL_HTTP_HOST="0.0.0.0",
            SLACK_BOT_TOKEN="x",
            VIGIL_WEB_CONSOLE="on",
        )


def test_discord_guild_ids_are_a_comma_separated_list(config_dir: Path, tmp_path: Path) -> None:
    ids = _load(config_dir, tmp_path, DISCORD_GUILD_IDS="81384788765712384, 42")
    assert ids.env.DISCORD_GUILD_IDS == (81384788765712384, 42)
    assert _load(config_dir, tmp_path).env.DISCORD_GUILD_IDS == ()
    with pytest.raises(ConfigError) as err:
        _load(config_dir, tmp_path, DISCORD_GUILD_IDS="acme")
    assert str(err.value).startswith("environment: DISCORD_GUILD_IDS: expected comma-separated")


def test_the_web_console_is_on_by_default_only_without_a_chat_platform(
    config_dir: Path, tmp_path: Path
) -> None:
    assert _load(config_dir, tmp_path).env.web_console_on()
    assert not _load(config_dir, tmp_path, DISCORD_TOKEN="abc").env.web_console_on()
    both = _load(config_dir, tmp_path, SLACK_BOT_TOKEN="xoxb-1", VIGIL_WEB_CONSOLE="on")
    assert both.env.web_console_on()
    names = _load(config_dir, tmp_path).channels.platform_names("slack")
    assert names["alerts"] == "vigil-alerts" and set(names) == {
        "alerts",
        "digest",
        "general",
        "ops",
    }


def test_cron_days_of_the_week_are_crontabs(config_dir: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.scheduler import build_trigger

    def weekend(data: dict) -> None:
        data["schedules"]["weekend"] = {"job": "alerts", "cron": "0 9 * * 6-7"}
        data["schedules"]["weekdays"] = {"job": "alerts", "cron": "0 9 * * 1-5"}

    _edit(config_dir, "ai-config.yml", weekend)
    schedules = _load(config_dir, tmp_path).ai.schedules  # 7 is Sunday, as in crontab
    friday = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert build_trigger(schedules["weekend"]).get_next_fire_time(None, friday).day == 21  # Sat
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert build_trigger(schedules["weekdays"]).get_next_fire_time(None, saturday).day == 23  # Mon
