"""ask and status against the demo world, checked against its ground truth. (The alerts job is
driven by the anomaly model's detections now: see test_alerts.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from handlers import ask, status
from handlers.deps import Deps
from handlers.types import ChatRequest, Section, Table
from knowledge.demo import INCIDENT_TYPES, DemoWorld, Incident, SimClock

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class ManualClock:
    """A real-time source the test moves by hand."""

    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value


class World:
    def __init__(self, seed: int = 42) -> None:
        self.real = ManualClock()
        self.world = DemoWorld(seed=seed, start=START, clock=SimClock(START, 60.0, self.real))

    def at(self, when: datetime) -> None:
        self.real.value = (when - START).total_seconds() / 60.0


@pytest.fixture(scope="module")
def sim() -> World:
    return World()


def _deps(sim: World, settings: Settings) -> Deps:
    return Deps(analysis=settings.ai.analysis, telemetry=sim.world)


def _first_six(sim: World) -> list[Incident]:
    incidents = sim.world.incidents()[:6]
    assert {i.type for i in incidents} == set(INCIDENT_TYPES)
    return incidents


def _late_in(incident: Incident) -> datetime:
    return incident.start + (incident.end - incident.start) * 0.8


async def test_ask_during_an_incident_names_the_host_and_its_metric(
    sim: World, settings: Settings
) -> None:
    for incident in _first_six(sim):
        sim.at(_late_in(incident))
        question = f"why is {incident.service} slow?"
        reply = await ask.handle(
            ChatRequest(question, command="ask", args=question), _deps(sim, settings)
        )
        assert incident.host in reply.text, (incident.type, reply.text)
        known = next(
            p
            for p in reply.parts
            if isinstance(p, Section) and (p.title or "").startswith("What we know")
        )
        assert any(metric in known.text for metric in incident.metrics), known.text
        sources = next(p.text for p in reply.parts if p.text.startswith("Sources:"))
        assert "[1]" in known.text and "Sources: [1] live" in sources


async def test_ask_in_a_quiet_period_says_nothing_is_wrong(sim: World, settings: Settings) -> None:
    first = sim.world.incidents()[0]
    sim.at(first.start - timedelta(minutes=1))
    reply = await ask.handle(ChatRequest("", args="is checkout ok?"), _deps(sim, settings))
    assert reply.text.startswith("Nothing on checkout was past a baseline")


async def test_live_evidence_is_read_only_for_questions_about_now(
    sim: World, settings: Settings
) -> None:
    incident = _first_six(sim)[0]
    sim.at(_late_in(incident))
    deps = _deps(sim, settings)
    now = deps.now()
    live = ask.live_evidence(f"why is {incident.host} slow?", deps, now)
    assert any(e.host == incident.host and e.kind == "metric_window" for e in live)
    assert all(e.source == "live" for e in live)
    past = (now - timedelta(hours=3)).strftime("%H:%M")
    assert ask.live_evidence(f"what happened on {incident.host} at {past}?", deps, now) == []


async def test_ask_redacts_what_it_quotes_from_logs(sim: World, settings: Settings) -> None:
    for incident in _first_six(sim):
        sim.at(_late_in(incident))
        reply = await ask.handle(
            ChatRequest("", args=f"what is wrong with {incident.host}?"), _deps(sim, settings)
        )
        text = "\n".join(getattr(p, "text", "") for p in reply.parts)
        assert "@example." not in text and "AKIA" not in text and "xoxb-" not in text


async def test_status_shows_every_service_and_the_one_in_trouble(
    sim: World, settings: Settings
) -> None:
    incident = _first_six(sim)[0]
    sim.at(_late_in(incident))
    reply = await status.handle(ChatRequest("status"), _deps(sim, settings))
    table = next(p for p in reply.parts if isinstance(p, Table))
    assert {row[0] for row in table.rows} == {s.name for s in sim.world.services}
    troubled = {row[0] for row in table.rows if row[-1] != "ok"}
    assert troubled == {incident.service}
    assert reply.text.startswith("1 of 5 services")


async def test_status_when_all_is_quiet(sim: World, settings: Settings) -> None:
    sim.at(START + timedelta(minutes=3))
    reply = await status.handle(ChatRequest("status"), _deps(sim, settings))
    assert reply.text == "All 5 services are within their baselines."
