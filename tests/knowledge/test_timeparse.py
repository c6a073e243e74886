from datetime import timedelta

import pytest

from knowledge.timeparse import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("45", 45),
        (12, 12),
        ("250ms", 0.25),
    ],
)
def test_parse(text, seconds) -> None:
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "-5m", "1h-2m", True])
def test_parse_rejects(text) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format() -> None:
    assert format_duration(timedelta(seconds=40)) == "40s"
    assert format_duration(timedelta(minutes=65)) == "1h 5m"
    assert format_duration(timedelta(days=3, hours=2, minutes=7)) == "3d 2h"
