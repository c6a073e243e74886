"""Readers and checks shared by the deploy/ tests: Dockerfile instructions, .dockerignore
matching (Docker's own rules), compose services, Kubernetes manifests and systemd units.

Plain parsing only (pyyaml, configparser, tomllib): nothing here needs Docker, a cluster or
systemd.
"""

from __future__ import annotations

import configparser
import json
import posixpath
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.config import ENV_KEYS, SECRET_FILE_KEYS, SECRET_KEYS, EnvSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"

# Environment keys Vigil reads besides EnvSettings' own: where the YAML lives, and the offline
# switches of the embedding model's libraries.
EXTRA_ENV_KEYS = frozenset({"VIGIL_CONFIG_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"})


def known_env_keys() -> frozenset[str]:
    """Every environment key that Vigil reads (a typo in a manifest is not one of them)."""
    return frozenset({*ENV_KEYS, *SECRET_FILE_KEYS, *EXTRA_ENV_KEYS})


def secret_keys() -> frozenset[str]:
    return frozenset(SECRET_KEYS)


def default_http_port() -> int:
    return int(EnvSettings.model_fields["VIGIL_HTTP_PORT"].default)


# --------------------------------------------------------------------------- pyproject


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def pinned(package: str) -> str:
    """The ``package==X`` requirement of pyproject's dependencies (it must be pinned there)."""
    for requirement in pyproject()["project"]["dependencies"]:
        if re.match(rf"^{re.escape(package)}\s*==", requirement):
            return requirement.replace(" ", "")
    raise AssertionError(f"pyproject.toml does not pin {package}")


def version() -> str:
    return str(pyproject()["project"]["version"])


# --------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest, continuation lines joined
    line: int  # where it starts (1-based)

    def exec_form(self) -> list[str] | None:
        """The JSON array of ``["a", "b"]`` forms, else ``None`` (shell form)."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else ""
        text = text.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list), self
        return [str(v) for v in value]

    def words(self) -> list[str]:
        return shlex.split(self.args, comments=False, posix=True)


def dockerfile(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped (also inside continuations), lines
    ending in a backslash joined."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not parts:
            start = number
        continued = stripped.endswith("\\")
        parts.append(stripped[:-1].strip() if continued else stripped)
        if continued:
            continue
        keyword, _, args = " ".join(parts).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    assert not parts, f"{path}: the last instruction ends with a backslash"
    return instructions


def copy_sources(instruction: Instruction) -> list[str]:
    """The build-context sources of a COPY / ADD (none when it copies from a stage)."""
    args = instruction.exec_form() or instruction.words()
    flags = [a for a in args if a.startswith("--")]
    if any(f.startswith("--from=") for f in flags):
        return []
    paths = [a for a in args if not a.startswith("--")]
    assert len(paths) >= 2, f"line {instruction.line}: {instruction.keyword} needs SRC... DEST"
    return paths[:-1]


def context_sources(instructions: list[Instruction]) -> list[str]:
    """What every COPY / ADD takes from the build context."""
    return [
        source
        for ins in instructions
        if ins.keyword in {"COPY", "ADD"}
        for source in copy_sources(ins)
    ]


def env_assignments(instruction: Instruction) -> dict[str, str]:
    """``ENV A=1 B="x y"`` (and the legacy ``ENV A 1``) as a mapping."""
    words = instruction.words()
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    """The ENV of the last stage (what the running container gets)."""
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    env: dict[str, str] = {}
    for ins in instructions[last_from:]:
        if ins.keyword == "ENV":
            env.update(env_assignments(ins))
    return env


def last(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [ins for ins in instructions if ins.keyword == keyword]
    assert found, f"no {keyword} instruction"
    return found[-1]


class DockerIgnore:
    """``.dockerignore`` as Docker applies it (moby/patternmatcher): patterns are relative to
    the context root; ``*`` and ``?`` stop at ``/``, ``**`` crosses folders; a pattern that
    matches a folder excludes what is inside it; ``!`` re-includes; the last match wins."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = posixpath.normpath(line[1:].strip() if negated else line).lstrip("/")
            self.rules.append((negated, re.compile(_pattern_regex(pattern))))

    @classmethod
    def of_repo(cls) -> DockerIgnore:
        path = REPO / ".dockerignore"
        return cls(path.read_text(encoding="utf-8") if path.is_file() else "")

    def excluded(self, path: str) -> bool:
        path = posixpath.normpath(path).lstrip("/")
        parents = posixpath.dirname(path).split("/") if "/" in path else []
        candidates = [path] + ["/".join(parents[: i + 1]) for i in range(len(parents))]
        result = False
        for negated, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                result = not negated
        return result


def _pattern_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i)
            assert end > i, f"unclosed [ in .dockerignore pattern {pattern!r}"
            out.append(pattern[i : end + 1])
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- YAML


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a (multi-document) YAML file; each must be a mapping."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"
    return docs


def env_mapping(environment: Any) -> dict[str, str]:
    """compose ``environment:`` as a mapping, whether a mapping or a list of ``K=V``."""
    if environment is None:
        return {}
    if isinstance(environment, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in environment.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``None`` when it has none); a digest counts as one."""
    if "@" in image:
        return image.split("@", 1)[1]
    name = image.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else None


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def selected(selector: Mapping[str, str], templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pod templates (or objects with ``metadata.labels``) a label selector picks."""
    return [t for t in templates if labels_match(selector, t["metadata"]["labels"])]


# --------------------------------------------------------------------------- compose


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    kind: str  # volume (named), bind

    @classmethod
    def parse(cls, spec: Any) -> Mount:
        if isinstance(spec, Mapping):
            source, target = str(spec.get("source", "")), str(spec["target"])
            return cls(source, target, str(spec.get("type", "volume")))
        parts = str(spec).split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        bind = source.startswith((".", "/", "~")) or "/" in source
        return cls(source, target, "bind" if bind else "volume")

    @property
    def relative(self) -> bool:
        return self.kind == "bind" and self.source.startswith(".")


def published_ports(service: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(host_ip, published port)`` of each published port (host_ip ``""`` when unset)."""
    for spec in service.get("ports", []):
        if isinstance(spec, Mapping):
            yield str(spec.get("host_ip", "")), str(spec.get("published", ""))
            continue
        parts = str(spec).rsplit(":", 2)
        if len(parts) == 3:
            yield parts[0].strip("[]"), parts[1]
        elif len(parts) == 2:
            yield "", parts[0]
        else:
            yield "", ""  # container port only: a random host port on every interface


# --------------------------------------------------------------------------- Kubernetes

KNOWN_KINDS = {
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
}


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest in deploy/k8s (not the kustomization, not config/ data)."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def kustomization() -> dict[str, Any]:
    (doc,) = yaml_documents(K8S / "kustomization.yaml")
    return doc


def manifests() -> list[dict[str, Any]]:
    return [doc for path in manifest_files() for doc in yaml_documents(path)]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def by_name(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def defined_names(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Names per kind that the manifests and the kustomization's generators define."""
    names: dict[str, set[str]] = {}
    for doc in docs:
        names.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    kust = kustomization()
    for generator, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for item in kust.get(generator, []):
            names.setdefault(kind, set()).add(item["name"])
    return names


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployment name -> its pod template."""
    return {d["metadata"]["name"]: d["spec"]["template"] for d in of_kind(docs, "Deployment")}


def references(pod_spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(kind, name)`` of every ConfigMap, Secret and claim a pod spec uses."""
    for volume in pod_spec.get("volumes", []):
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"]
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"]
        if "persistentVolumeClaim" in volume:
            yield "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]
    for container in containers(pod_spec):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"]
            if "secretRef" in source:
                yield "Secret", source["secretRef"]["name"]
        for var in container.get("env", []):
            ref = var.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                yield "ConfigMap", ref["configMapKeyRef"]["name"]
            if "secretKeyRef" in ref:
                yield "Secret", ref["secretKeyRef"]["name"]


def containers(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]


def container_env(container: Mapping[str, Any]) -> dict[str, str | None]:
    """A container's env: a value, or ``None`` for ``valueFrom``."""
    return {v["name"]: v.get("value") for v in container.get("env", [])}


def generator_literals(name: str) -> dict[str, str]:
    for item in kustomization().get("configMapGenerator", []):
        if item["name"] == name:
            return dict(literal.split("=", 1) for literal in item.get("literals", []))
    return {}


# --------------------------------------------------------------------------- systemd


@dataclass(frozen=True)
class Unit:
    """A systemd unit: ``values[section][key]`` lists every value of a key (``Environment=``
    and ``LoadCredential=`` repeat), ``commented`` the ``#Key=value`` lines (examples)."""

    values: dict[str, dict[str, list[str]]]
    commented: list[tuple[str, str]]

    def one(self, section: str, key: str) -> str:
        found = self.values.get(section, {}).get(key, [])
        assert len(found) == 1, f"[{section}] {key}= is set {len(found)} times"
        return found[0]

    def environment(self, commented: bool = False) -> dict[str, str]:
        lines = (
            [v for k, v in self.commented if k == "Environment"]
            if commented
            else self.values.get("Service", {}).get("Environment", [])
        )
        return dict(word.split("=", 1) for line in lines for word in shlex.split(line))


def systemd_unit(path: Path) -> Unit:
    text = path.read_text(encoding="utf-8")
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(text)  # raises on anything that is not INI
    values: dict[str, dict[str, list[str]]] = {}
    commented: list[tuple[str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            values.setdefault(section, {})
        elif re.match(r"^#[A-Z]\w*=", line):
            key, _, value = line[1:].partition("=")
            commented.append((key, value))
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[section].setdefault(key.strip(), []).append(value.strip())
    assert set(values) == set(parser.sections()), "sections differ between the two readings"
    return Unit(values, commented)
