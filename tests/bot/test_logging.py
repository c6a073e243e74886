from __future__ import annotations

import io
import json
import logging

from bot.logging import configure_logging


def _emit(json_lines: bool) -> str:
    stream = io.StringIO()
    handler = configure_logging(
        "INFO", json_lines=json_lines, secrets=["xoxb-live-token-123"], stream=stream
    )
    try:
        log = logging.getLogger("vigil.test")
        log.info(
            "posting with %s for %s",
            "xoxb-live-token-123",
            "ops@example.com",
            extra={"channel": "alerts"},
        )
        try:
            raise ValueError("password=hunter22 rejected")
        except ValueError:
            log.exception("login failed")
    finally:
        logging.getLogger().removeHandler(handler)
    return stream.getvalue()


def test_text_logs_are_readable_and_redacted() -> None:
    out = _emit(json_lines=False)
    assert "xoxb-live-token-123" not in out and "hunter22" not in out
    assert "ops@example.com" not in out
    assert "INFO    vigil.test: posting with [REDACTED:secret]" in out
    assert "channel=alerts" in out
    assert "Traceback" in out  # the traceback is kept, its secrets are not


def test_json_logs_are_one_object_per_line_and_redacted() -> None:
    lines = _emit(json_lines=True).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["INFO", "ERROR"]
    assert records[0]["channel"] == "alerts"
    assert "[REDACTED:secret]" in records[0]["message"]
    assert "hunter22" not in records[1]["exception"]
