"""The console in a real browser (Debian's Chromium through Playwright) against a real
``VigilApp`` with its knowledge store: a question answered with sources, an alert arriving live
with its chart, its buttons acting on the real alert book.

One browser for the module; a new page (and context) per test.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.app import VigilApp
from bot.config import load_settings
from bot.http import HttpServer
from bot.web.front import WebConsole
from handlers import alerts
from handlers.types import Amend, Button, Buttons, ChatRequest, Context, Reply, Section
from knowledge.embeddings import Embedder
from tests.handlers.test_alertbook import T0, detection
from training.live import Detection

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[3]
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
TOKEN = "browser-test-token-0123456789"
JOB = ChatRequest("alerts", platform="scheduler", user="vigil")

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.slow,  # the knowledge store loads the runbooks (~5 s), Chromium starts (~1 s)
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


@dataclass
class Served:
    app: VigilApp
    web: WebConsole
    found: list[Detection] = field(default_factory=list)

    def detect(self, now: datetime) -> list[Detection]:
        return list(self.found)

    async def fire(self, *found: Detection) -> list[str]:
        """One alerts-job run with ``found`` detected; its messages posted through the hub.
        Returns the ids of the alerts it opened."""
        self.found = list(found)
        before = {a.id for a in self.app.deps.alerts.active()}
        for channel, reply in await alerts.check(JOB, self.app.deps):
            await self.app.post(channel, reply)
        return [a.id for a in self.app.deps.alerts.active() if a.id not in before]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> AsyncIterator[Served]:
    root = tmp_path_factory.mktemp("web")
    shutil.copytree(REPO / "data_config", root / "data_config")
    settings = load_settings(
        config_dir=root / "data_config",
        env_file=root / "none.env",
        # with a token: every page goes in through ?token= and the cookie it sets
        environ={"VIGIL_DATA_DIR": str(root / "var"), "VIGIL_WEB_TOKEN": TOKEN},
    )
    app = VigilApp(settings)
    await asyncio.to_thread(app.sync_knowledge)  # the runbooks, as at start
    http = HttpServer("127.0.0.1", 0)
    served = Served(app, WebConsole(app, http))
    app.deps.detect = served.detect
    app.deps.clock = lambda: T0
    await http.start()
    await served.web.start()
    app.hub.add_sink(served.web.post)
    yield served
    await served.web.stop()
    await http.stop()
    await app.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page; fails the test if the page logged an error."""
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(8000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    await context.close()
    assert errors == []


async def open_console(page: Page, served: Served, channel: str, user: str) -> None:
    await page.goto(f"{served.web.url}#{channel}")
    assert page.url == f"{served.web.http.url}/#{channel}"  # the token is out of the address
    await page.fill("#user", user)
    await page.dispatch_event("#user", "change")
    await expect(page.locator("#conn")).to_have_text("live")
    await expect(page.locator("#channel-name")).to_have_text(f"#{channel}")


async def test_a_question_gets_an_answer_with_its_sources(page: Page, served: Served) -> None:
    await open_console(page, served, "general", "ana")
    await page.fill("#text", "how do I fix a full disk?")
    await page.press("#text", "Enter")
    asked = page.locator("article.msg.human", has_text="how do I fix a full disk?")
    await expect(asked.locator(".user")).to_have_text("ana")
    answer = page.locator("article.msg.bot", has_text="Sources:")
    await expect(answer).to_be_visible()
    await expect(answer.locator(".section h4").first).to_be_visible()
    sources = answer.locator(".context", has_text="Sources:")
    await expect(sources).to_contain_text("runbook: Disk full on a host")
    assert await page.input_value("#text") == ""  # Enter sent it
    assert await page.evaluate("localStorage.getItem('vigil.user')") == "ana"


async def test_an_alert_appears_live_with_its_chart(page: Page, served: Served) -> None:
    await open_console(page, served, "alerts", "bo")
    (alert_id,) = await served.fire(detection(0, host="payments-7"))
    alert = page.locator("article.msg.bot", has_text="payments/payments-7: memory_leak").first
    await expect(alert).to_be_visible()
    chart = alert.locator("figure img")
    assert await chart.get_attribute("alt")
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=await chart.element_handle()
    )
    assert await chart.evaluate("img => img.naturalWidth") > 300
    await expect(alert.locator(f'button[data-command="ack {alert_id}"]')).to_be_enabled()
    # the other channels count what arrives while this one is shown
    await served.app.post("ops", Reply("Job `ingest` recovered after 1 failed run(s)."))
    await expect(page.locator('[data-channel="ops"] .unread')).to_have_text("1")
    await page.click('[data-channel="ops"]')
    await expect(page.locator("article.msg", has_text="ingest recovered after 1")).to_be_visible()
    await expect(page.locator('[data-channel="ops"] .unread')).to_have_count(0)


async def test_the_ack_button_acknowledges_the_alert(page: Page, served: Served) -> None:
    await open_console(page, served, "alerts", "cy")
    (alert_id,) = await served.fire(detection(0, host="payments-8"))
    alert = page.locator("article.msg.bot", has_text="payments/payments-8: memory_leak").first
    await alert.locator(f'button[data-command="ack {alert_id}"]').click()
    await expect(alert.locator(".thread")).to_contain_text(f"{alert_id} ")
    await expect(alert.locator(".thread")).to_contain_text("acknowledged by cy")
    acked = served.app.deps.alerts.get(alert_id)
    assert acked is not None and acked.acked_by == "cy"


async def test_the_resolve_button_resolves_and_disables_the_buttons(
    page: Page, served: Served
) -> None:
    await open_console(page, served, "alerts", "di")
    (alert_id,) = await served.fire(detection(0, host="payments-9"))
    alert = page.locator("article.msg.bot", has_text="payments/payments-9: memory_leak").first
    await expect(alert).to_be_visible()
    await alert.locator(f'button[data-command="resolve {alert_id}"]').click()
    await expect(alert.locator(".thread > .msg").last).to_contain_text("is resolved by di")
    await expect(alert.locator(":scope > .body > .status")).to_contain_text(f"{alert_id} resolved")
    buttons = alert.locator(".buttons button")
    assert await buttons.count() >= 2
    for button in await buttons.all():
        await expect(button).to_be_disabled()
    assert alert_id not in {a.id for a in served.app.deps.alerts.active()}


async def test_an_amend_by_ref_closes_a_message_on_open_pages(page: Page, served: Served) -> None:
    await open_console(page, served, "ops", "ed")
    await served.app.post(
        "ops",
        Reply(
            "Source `prometheus` is down",
            parts=(
                Section("Connection refused, **3** tries:\n- 10:01\n- 10:02"),
                Buttons((Button("Retry now", "status", "primary"),)),
                Context("source · prometheus"),
            ),
            refs=("source:prometheus",),
        ),
    )
    notice = page.locator("article.msg", has_text="Source prometheus is down")
    await expect(notice.locator("code")).to_have_text("prometheus")
    await expect(notice.locator("strong")).to_have_text("3")  # light markdown
    await expect(notice.locator("li")).to_have_count(2)
    await expect(notice.locator("button", has_text="Retry now")).to_be_enabled()
    amend = Amend("Recovered at 10:07", ref="source:prometheus", close=True)
    await served.app.post("ops", Reply("Source `prometheus` recovered", amends=(amend,)))
    await expect(notice.locator(".status")).to_have_text("Recovered at 10:07")
    await expect(notice.locator("button", has_text="Retry now")).to_be_disabled()
    await page.fill("#text", "first line")
    await page.press("#text", "Shift+Enter")  # a new line, not sent
    assert await page.input_value("#text") == "first line\n"
    # HTML in a message is shown as text, never run
    await served.app.post("ops", Reply("<img src=x onerror=alert(1)> <b>bold?</b>"))
    raw = page.locator("article.msg", has_text="<img src=x onerror=alert(1)>")
    await expect(raw).to_be_visible()
    assert await raw.locator("img, b").count() == 0
