from __future__ import annotations

import re

import pytest

from knowledge.redaction import Redactor, luhn_valid
from tests.conftest import SHARED_DATA

SECRETS = {
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
    "slack_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "github_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "api_key": "sk-proj-abcdefghijklmnopqrstuv1234",
}


@pytest.mark.parametrize(("kind", "secret"), SECRETS.items())
def test_token_shapes(kind: str, secret: str) -> None:
    out = Redactor().redact(f"calling upstream with {secret} now")
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer abcdef0123456789abcdef",
        "GET /export?api_key=9f8e7d6c5b4a&format=csv",
        'db connect password="s3cr3t-Pass!" user=app',
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "postgres://app:hunter2hunter@db.internal:5432/orders",
    ],
)
def test_credentials_in_context(line: str) -> None:
    out = Redactor().redact(line)
    for secret in (
        "abcdef0123456789abcdef",
        "9f8e7d6c5b4a",
        "s3cr3t-Pass!",
        "wJalrXUtnFEMI",
        "hunter2hunter",
    ):
        assert secret not in out
    assert "[REDACTED" in out


def test_private_key_block() -> None:
    text = (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n"
        "-----END RSA PRIVATE KEY-----\nok"
    )
    out = Redactor().redact(text)
    assert "MIIEowIBAAKCAQEA" not in out and out.endswith("ok")


def test_emails_cards_and_ips() -> None:
    line = "refund for jane.doe+vip@example.com card 4111 1111 1111 1111 from 203.0.113.77"
    out = Redactor().redact(line)
    assert out == "refund for [REDACTED:email] card [REDACTED:card] from [REDACTED:ip]"


def test_non_luhn_numbers_and_loopback_stay() -> None:
    line = "order 4111111111111112 took 1234567890123 ms on 127.0.0.1"
    assert Redactor().redact(line) == line
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def test_ips_and_emails_are_configurable() -> None:
    redactor = Redactor(redact_ips=False, redact_emails=False)
    assert redactor.redact("a@example.com from 10.1.2.3") == "a@example.com from 10.1.2.3"


def test_known_secrets_and_extra_patterns() -> None:
    redactor = Redactor(known_secrets=["my-signing-secret-42"], extra_patterns=[r"CUST-\d{6}"])
    out = redactor.redact("sig my-signing-secret-42 for CUST-123456")
    assert out == "sig [REDACTED:secret] for [REDACTED:custom]"


def test_idempotent() -> None:
    redactor = Redactor()
    once = redactor.redact("token=abcdef123456 mail a@b.org")
    assert redactor.redact(once) == once


@pytest.mark.skipif(not (SHARED_DATA / "logs").is_dir(), reason="../shared/data is not present")
def test_real_access_log_leaves_no_client_ip() -> None:
    lines = (SHARED_DATA / "logs" / "apache_access.log").read_text(errors="replace").splitlines()
    redactor = Redactor()
    sample = lines[:2000]
    client_ips = {line.split()[0] for line in sample if re.match(r"\d+\.\d+\.\d+\.\d+ ", line)}
    assert len(client_ips) > 100
    redacted = "\n".join(map(redactor.redact, sample))
    tokens = set(re.split(r"[\s\"'\[\]()/,;=?&]+", redacted))
    leaked = client_ips & tokens
    assert not leaked, sorted(leaked)[:3]
    assert redacted.count("[REDACTED:ip] - - [") == len(sample)
