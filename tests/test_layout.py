"""The house rules of DESIGN.md that code review would otherwise have to catch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# package -> our packages it must not import
FORBIDDEN = {
    "handlers": {"bot"},  # handlers may use the model's inference API in training/
    "knowledge": {"bot", "handlers", "training"},
    "training": {"bot", "handlers"},
}
PLATFORM_SDKS = {"slack_sdk", "slack_bolt", "discord"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) & (FORBIDDEN[package] | PLATFORM_SDKS))
        for path in (REPO / package).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_top_level_layout_is_fixed() -> None:
    for folder in ("bot", "handlers", "knowledge", "data_config", "training", "deploy", "tests"):
        assert (REPO / folder).is_dir(), folder
    assert (REPO / "pyproject.toml").is_file()


def test_torch_pin_lives_in_the_install_files() -> None:
    assert '"torch==2.13.0"' in (REPO / "pyproject.toml").read_text()
    assert 'TORCH_PIN="torch==2.13.0"' in (REPO / "start.sh").read_text()
