"""Digest configuration, schedules and periods, the digest job on a real app, alert history
across a reload, and ``vigil digest``'s answers to bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pytest
import typer
import yaml
from pydantic import Field, model_validator
from typer.testing import CliRunner

from bot.app import ALERTS_FILE, VigilApp
from bot.config import AIConfigFile, Channel, Settings, _load_yaml_model
from bot.crontab import crontab_weekdays
from bot.digests import (
    DigestConfig,
    check_channels,
    digest_command,
    digest_jobs,
    digest_schedules,
    job_period,
    last_fire,
    period_of,
)
from bot.scheduler import build_trigger
from handlers import alertbook
from handlers.alertbook import AlertBook
from knowledge.config import StrictModel
from knowledge.errors import ConfigError
from tests.handlers.test_alertbook import detection

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 09:00 in London in November


class ChannelsFile(StrictModel):
    """The part of channels.yml a digest needs, validated as ``ChannelsConfig`` will be."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    digests: dict[str, DigestConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _channels_exist(self) -> ChannelsFile:
        check_channels(self.digests, self.channels)
        return self


def _load(tmp_path: Path, text: str) -> ChannelsFile:
    path = tmp_path / "channels.yml"
    path.write_text("channels: {digest: {}, ops: {}}\n" + text)
    loaded: ChannelsFile = _load_yaml_model(path, ChannelsFile)
    return loaded


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        "digests:\n"
        '  digest: {cron: "0 9 * * 1-5", timezone: Europe/London}\n'
        '  ops: {cron: "0 */6 * * *", include: [alerts, attention], period: 6h}\n',
    )
    digest, ops = loaded.digests["digest"], loaded.digests["ops"]
    assert digest.include == ("alerts", "anomalies", "logs", "baselines", "chart", "attention")
    assert digest.period is None and digest.services == ()
    assert ops.include == ("alerts", "attention") and ops.period == timedelta(hours=6)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('{cron: "0 9 * *"}', "digests.ops.cron: expected a 5-field crontab such as '0 9 * * 1-5'"),
        (
            '{cron: "0 9 * * *", include: [alerts, weather]}',
            "digests.ops.include.1: input should be",
        ),
        ('{cron: "0 9 * * *", timezone: Mars/Olympus}', "expected an IANA time zone"),
        ('{cron: "0 9 * * *", period: 5s}', "expected a period from 10m to 31d"),
        ('{cron: "0 9 * * *", colour: red}', "digests.ops.colour: unknown key"),
    ],
)
def test_bad_digest_config_is_one_line(tmp_path: Path, entry: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f"digests:\n  ops: {entry}\n")
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert "channels.yml" in message


def test_a_digest_for_an_unknown_channel_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, 'digests:\n  payments: {cron: "0 9 * * *"}\n')
    message = str(caught.value)
    assert "digests.payments names channel 'payments', which is not defined" in message
    assert "(defined: digest, ops)" in message and "\n" not in message


def test_digest_schedules_are_cron_jobs_in_their_time_zone() -> None:
    schedules = digest_schedules(
        {
            "digest": DigestConfig(cron="0 9 * * 1-5", timezone="Europe/London"),
            "ops": DigestConfig(cron="0 */6 * * *"),
        }
    )
    assert set(schedules) == {"digest:digest", "digest:ops"}
    weekday = schedules["digest:digest"]
    assert (weekday.job, weekday.cron, weekday.timezone) == (
        "digest",
        "0 9 * * 1-5",
        "Europe/London",
    )
    assert weekday.args == {"channel": "digest"} and weekday.every is None
    saturday = datetime(2026, 7, 4, 12, 0, tzinfo=UTC)
    fire = build_trigger(weekday).get_next_fire_time(None, saturday)
    assert fire == datetime(2026, 7, 6, 8, 0, tzinfo=UTC)  # Monday 09:00 BST
    assert schedules["digest:ops"].args == {"channel": "ops"}


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("5-7", "fri,sat,sun"),
        ("*/2", "tue,thu,sat,sun"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("6,0", "sat,sun"),
        ("*", "*"),
        ("0-6", "*"),
    ],
)
def test_crontab_days_of_the_week_mean_what_crontab_means(field: str, names: str) -> None:
    assert crontab_weekdays(field) == names


def test_a_digest_covers_the_time_since_the_previous_run() -> None:
    assert last_fire("0 9 * * *", "UTC", MONDAY_9) == MONDAY_9
    assert last_fire("0 9 * * *", "UTC", MONDAY_9 - timedelta(seconds=1)) == MONDAY_9 - timedelta(
        days=1
    )

    def scheduled(cron: str, at: datetime, zone: str = "UTC") -> timedelta:
        return period_of(DigestConfig(cron=cron, timezone=zone), at, scheduled=True)

    assert scheduled("0 9 * * *", MONDAY_9 + timedelta(seconds=2)) == timedelta(hours=24, seconds=2)
    assert scheduled("0 9 * * 1-5", MONDAY_9, "Europe/London") == timedelta(hours=72)
    assert scheduled("0 */6 * * *", MONDAY_9 + timedelta(hours=3)) == timedelta(hours=6)
    assert scheduled("*/5 * * * *", MONDAY_9) == timedelta(minutes=10)  # the minimum
    config = DigestConfig(cron="0 9 * * *", period="2h")  # type: ignore[arg-type]
    assert period_of(config, MONDAY_9) == timedelta(hours=2)
    assert period_of(None, MONDAY_9) == timedelta(hours=24)


def test_the_default_period_starts_at_the_previous_fire_time() -> None:
    weekdays = DigestConfig(cron="0 9 * * 1-5", timezone="Europe/London")
    late = MONDAY_9 + timedelta(minutes=3)  # the job ran three minutes late
    assert period_of(weekdays, late, scheduled=True) == timedelta(hours=72, minutes=3)  # Fri 09:00
    # by hand: since the latest run, or the default when that was under ten minutes ago
    assert period_of(weekdays, MONDAY_9 + timedelta(hours=3)) == timedelta(hours=3)
    assert period_of(weekdays, late) == timedelta(hours=24)
    # the Monday after the clocks went back in London: Fri 09:00 BST to Mon 09:00 GMT
    after_dst = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    assert period_of(weekdays, after_dst, scheduled=True) == timedelta(hours=73)
    every_5 = DigestConfig(cron="*/5 * * * *")
    assert period_of(every_5, MONDAY_9, scheduled=True) == timedelta(minutes=10)  # the minimum


def test_the_demo_posts_a_digest_of_the_last_hour() -> None:
    raw = yaml.safe_load((Path(__file__).parents[2] / "data_config" / "ai-config.yml").read_text())
    schedule = AIConfigFile.model_validate(raw).demo.schedules["digest"]
    assert (schedule.job, schedule.every) == ("digest", timedelta(seconds=60))
    assert schedule.args == {"channel": "digest", "period": "1h"}
    assert job_period(schedule.args) == timedelta(hours=1)
    assert job_period({"period": "soon"}) is None and job_period({"period": "90d"}) is None


def test_alert_history_survives_a_reload_and_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alerts.json"
    book = AlertBook(path=path)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    book.update([detection(0)], start)
    book.update([], start + timedelta(minutes=5))  # cleared by the model
    book.update([detection(0, host="payments-1")], start + timedelta(minutes=6))
    book.resolve("a-2", "ana", start + timedelta(minutes=8))
    again = AlertBook(path=path)
    closed = again.closed(start)
    assert [(a.id, a.resolved_by) for a in closed] == [("a-1", None), ("a-2", "ana")]
    assert again.closed(start + timedelta(minutes=6)) == closed[1:]
    state = json.loads(path.read_text())
    assert state["version"] == 1 and len(state["closed"]) == 2  # older Vigil reads version 1
    assert again.history_since() is None  # nothing dropped yet

    # a flap within the cooldown takes the alert out of the history until it closes again
    again.update([detection(0, host="payments-1")], start + timedelta(minutes=9))
    assert [a.id for a in again.closed()] == ["a-1"]

    # 32 days (a 31-day digest's worth), at most HISTORY_MAX alerts (20 here, to be quick)
    assert alertbook.HISTORY_DAYS == 32
    monkeypatch.setattr(alertbook, "HISTORY_MAX", 20)
    later = start + timedelta(days=33)
    for n in range(25):
        at = later + timedelta(minutes=20 * n)
        again.update([detection(0, host=f"h-{n}")], at)
        again.resolve(again.active()[-1].id, "bot", at + timedelta(minutes=1))
    history = AlertBook(path=path).closed()
    assert len(history) == 20
    assert all(a.resolved_at is not None and a.resolved_at > later for a in history)
    assert [a.host for a in history[-2:]] == ["h-23", "h-24"]
    since = AlertBook(path=path).history_since()
    assert since is not None and history[0].resolved_at is not None
    assert later < since < history[0].resolved_at  # h-4 dropped, by the cap: complete from then


def test_a_state_file_without_history_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    book = AlertBook(path=path)
    book.update([detection(0)], datetime(2026, 11, 1, tzinfo=UTC))
    state = json.loads(path.read_text())
    del state["closed"]
    path.write_text(json.dumps({**state, "version": 1}))
    old = AlertBook(path=path)
    assert [a.id for a in old.active()] == ["a-1"] and old.closed() == []


def test_a_state_file_without_history_seeds_it_from_recent(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    book = AlertBook(path=path)
    book.update([detection(0)], start)
    book.resolve("a-1", "ana", start + timedelta(minutes=3))
    state = json.loads(path.read_text())
    del state["closed"], state["history_since"]  # as older Vigil wrote it
    path.write_text(json.dumps(state))
    old = AlertBook(path=path)
    assert [(a.id, a.resolved_by) for a in old.closed(start)] == [("a-1", "ana")]
    assert old.history_since() == start + timedelta(minutes=3)


async def test_the_digest_job_posts_the_persisted_alerts_to_its_channel(
    settings: Settings,
) -> None:
    now = datetime.now(UTC)
    book = AlertBook(path=Path(settings.data_dir) / ALERTS_FILE)
    opened = replace(detection(0, host="payments-2"), since=now - timedelta(hours=3))
    book.update([opened], now - timedelta(hours=2))
    book.update([], now - timedelta(minutes=100))
    app = VigilApp(settings, knowledge=False)
    await digest_jobs(app)["digest"]({"channel": "ops"})
    [(channel, reply)] = app.hub.history
    assert channel == "ops"
    assert reply.text.startswith("Digest for #ops, ") and "1 alert, all resolved" in reply.text
    alerts = next(p.text for p in reply.parts if getattr(p, "title", "") == "Alerts")
    assert "a-1 [warning] memory_leak on payments-2" in alerts
    assert "resolved by the model after 1h" in alerts
    assert "no live metrics source" in reply.parts[-1].text  # type: ignore[union-attr]
    await digest_jobs(app)["digest"]({"channel": "ops", "period": "1h"})  # args.period
    (_, short) = app.hub.history[-1]
    assert short.text.startswith("All quiet in #ops, ") and "last 1h to " in short.parts[-1].text  # type: ignore[union-attr]


def _cli() -> typer.Typer:
    """``vigil digest`` as the lead wires it into ``bot.cli``."""
    app = typer.Typer()

    @app.command()
    def digest(
        channel: Annotated[str, typer.Option("--channel", help="the channel")],
        period: Annotated[str | None, typer.Option(help="e.g. 24h")] = None,
        print_it: Annotated[bool, typer.Option("--print")] = False,
    ) -> None:
        digest_command(channel, period, print_it)

    @app.command()
    def other() -> None:  # two commands: typer keeps the subcommand name
        """unused"""

    return app


def test_vigil_digest_prints_and_refuses_bad_input_in_one_line(cli: CliRunner) -> None:
    app = _cli()
    result = cli.invoke(app, ["digest", "--channel", "ops", "--period", "6h", "--print"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("All quiet in #ops, ") and "no alerts" in result.output
    for args, expected in (
        (["--channel", "payments", "--print"], "--channel payments: not a channel in channels.yml"),
        (["--channel", "ops", "--period", "soon", "--print"], "--period soon: expected a duration"),
        (["--channel", "ops", "--period", "90d", "--print"], "--period 90d: expected 10m to 31d"),
        (["--channel", "ops"], "add --print"),
    ):
        result = cli.invoke(app, ["digest", *args])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vigil: ") and expected in lines[0]
