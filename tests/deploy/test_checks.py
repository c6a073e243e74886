"""The readers in checks.py read what Docker and systemd would."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.checks import (
    DockerIgnore,
    Mount,
    copy_sources,
    dockerfile,
    env_assignments,
    image_tag,
    published_ports,
    systemd_unit,
)


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("tests", "tests/deploy/x.py", True),
        ("tests", "mytests/x.py", False),
        ("*.env", "prod.env", True),
        ("*.env", "sub/prod.env", False),
        ("**/*.env", "sub/prod.env", True),
        ("**/__pycache__", "bot/web/__pycache__/a.pyc", True),
        ("deploy\n!deploy/keep", "deploy/keep/file", False),
        ("deploy\n!deploy/keep", "deploy/other", True),
        ("/var", "var/x", True),
        ("da?a", "data/x", True),
    ],
)
def test_dockerignore_follows_dockers_rules(patterns: str, path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).excluded(path) is excluded


def test_dockerfile_reader_joins_continuations_and_drops_comments(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        "# a comment\nFROM python:3.11-slim AS build\nRUN a \\\n  # inside\n  && b\n"
        'COPY --from=build /x /y\nCOPY a b ./dst/\nENV A=1 B="two words"\nENV C 3\n'
    )
    instructions = dockerfile(path)
    assert [i.keyword for i in instructions] == ["FROM", "RUN", "COPY", "COPY", "ENV", "ENV"]
    assert instructions[1].args == "a && b" and instructions[1].line == 3
    assert copy_sources(instructions[2]) == []
    assert copy_sources(instructions[3]) == ["a", "b"]
    assert env_assignments(instructions[4]) == {"A": "1", "B": "two words"}
    assert env_assignments(instructions[5]) == {"C": "3"}


def test_compose_value_readers() -> None:
    assert Mount.parse("data:/var/lib/vigil").kind == "volume"
    assert Mount.parse("./prometheus/p.yml:/etc/p.yml:ro").relative
    assert not Mount.parse("/:/host:ro,rslave").relative
    service = {"ports": ["127.0.0.1:9090:9090", "8080:8080", {"published": 1, "target": 2}]}
    assert list(published_ports(service)) == [("127.0.0.1", "9090"), ("", "8080"), ("", "1")]
    assert image_tag("prom/prometheus:v3.5.0") == "v3.5.0"
    assert image_tag("registry:5000/vigil") is None
    assert image_tag("vigil@sha256:abc") == "sha256:abc"


def test_systemd_reader_keeps_repeated_and_commented_keys(tmp_path: Path) -> None:
    path = tmp_path / "x.service"
    path.write_text(
        "[Service]\nEnvironment=A=1 B=2\nEnvironment=C=%d/c\n#Environment=D_FILE=%d/d\n"
        "ExecStart=/bin/x run\n"
    )
    unit = systemd_unit(path)
    assert unit.environment() == {"A": "1", "B": "2", "C": "%d/c"}
    assert unit.environment(commented=True) == {"D_FILE": "%d/d"}
    assert unit.one("Service", "ExecStart") == "/bin/x run"
