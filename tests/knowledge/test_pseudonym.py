"""Reversible pseudonyms for what is sent to an external LLM."""

from __future__ import annotations

from knowledge.pseudonym import Pseudonymiser
from knowledge.redaction import Redactor


def test_the_same_value_gets_the_same_placeholder_and_comes_back() -> None:
    p = Pseudonymiser(Redactor())
    masked = p.mask("mail ann@example.com from 10.0.0.7, again ann@example.com")
    assert masked == "mail [EMAIL_1] from [IP_2], again [EMAIL_1]"
    assert p.restore("Ask [EMAIL_1] about [IP_2]; [IP_9] is unknown") == (
        "Ask ann@example.com about 10.0.0.7; [IP_9] is unknown"
    )
    assert len(p) == 2


def test_already_redacted_text_is_left_alone() -> None:
    p = Pseudonymiser(Redactor())
    assert p.mask("token=[REDACTED:token] from [REDACTED:ip]") == (
        "token=[REDACTED:token] from [REDACTED:ip]"
    )
    assert len(p) == 0


def test_streamed_placeholders_split_across_pieces_are_restored() -> None:
    p = Pseudonymiser(Redactor())
    p.mask("contact bob@example.org")
    out: list[str] = []
    stream = p.streaming(out.append)
    for piece in ["Ask [EM", "AIL_", "1] now", " [not a token", "]"]:
        stream.feed(piece)
    stream.close()
    assert "".join(out) == "Ask bob@example.org now [not a token]"
