"""The ``sources:`` section of ai-config.yml, and building the configured sources from it.

Built-in sources take their endpoint and secrets from the environment (``PROMETHEUS_URL`` and
friends, see ``ENV_FIELDS``), everything else from YAML. A custom source is a class named by
import path (``package.module:ClassName``), built and health-checked like the built-in ones.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from knowledge.config import AnalysisConfig, StrictModel
from knowledge.documents import SOURCES
from knowledge.errors import ConfigError
from knowledge.sources.base import Redact, Source, SourceConfig, SourceContext
from knowledge.sources.elasticsearch import ElasticsearchConfig, ElasticsearchSource
from knowledge.sources.files import FilesConfig, FilesSource
from knowledge.sources.jaeger import JaegerConfig, JaegerSource
from knowledge.sources.prometheus import PrometheusConfig, PrometheusSource

BUILTIN: dict[str, type[Source]] = {
    "prometheus": PrometheusSource,
    "elasticsearch": ElasticsearchSource,
    "jaeger": JaegerSource,
    "files": FilesSource,
}

ENV_FIELDS: dict[str, dict[str, str]] = {
    "prometheus": {
        "url": "PROMETHEUS_URL",
        "username": "PROMETHEUS_USERNAME",
        "password": "PROMETHEUS_PASSWORD",
        "bearer_token": "PROMETHEUS_BEARER_TOKEN",
    },
    "elasticsearch": {
        "url": "ELASTICSEARCH_URL",
        "api_key": "ELASTICSEARCH_API_KEY",
        "username": "ELASTICSEARCH_USERNAME",
        "password": "ELASTICSEARCH_PASSWORD",
    },
    "jaeger": {"url": "JAEGER_URL", "bearer_token": "JAEGER_BEARER_TOKEN"},
}
"""Which environment variable fills which field of a built-in source's config."""


class CustomSourceConfig(SourceConfig):
    """A team's own source: ``class`` is ``package.module:ClassName``; ``options`` go to the
    class's own ``Config`` model (a ``SourceConfig`` subclass) when it has one."""

    class_: str = Field(alias="class", min_length=3)
    options: dict[str, Any] = Field(default_factory=dict)


class SourcesConfig(StrictModel):
    """``sources:`` in ai-config.yml."""

    prometheus: PrometheusConfig = PrometheusConfig()
    elasticsearch: ElasticsearchConfig = ElasticsearchConfig()
    jaeger: JaegerConfig = JaegerConfig()
    files: FilesConfig = FilesConfig()
    custom: dict[str, CustomSourceConfig] = Field(default_factory=dict)

    @field_validator("custom")
    @classmethod
    def _names(cls, value: dict[str, CustomSourceConfig]) -> dict[str, CustomSourceConfig]:
        for name in value:
            if name in BUILTIN or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", name):
                raise ValueError(
                    f"custom source name {name!r}: expected lowercase letters, digits, - or _, "
                    f"and not one of {', '.join(BUILTIN)}"
                )
        return value


def with_env(name: str, config: SourceConfig, env: Mapping[str, Any]) -> SourceConfig:
    """``config`` with the fields that the environment sets for source ``name`` filled in."""
    update = {}
    for field_name, variable in ENV_FIELDS.get(name, {}).items():
        value = env.get(variable)
        if value is not None and field_name in type(config).model_fields:
            update[field_name] = value
    if not update:
        return config
    return type(config).model_validate({**config.model_dump(by_alias=True), **update})


def load_class(path: str, where: str) -> type[Source]:
    """The class at ``package.module:ClassName`` (or ``package.module.ClassName``)."""
    module_name, _, class_name = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not class_name:
        raise ConfigError(where, "ai-config.yml", "expected package.module:ClassName", path)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            where, "ai-config.yml", f"module {module_name!r} could not be imported ({exc})", path
        ) from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, Source):
        raise ConfigError(
            where,
            "ai-config.yml",
            f"expected a subclass of knowledge.sources.base.Source named {class_name!r} "
            f"in {module_name}",
            path,
        )
    return cls


def build_custom(name: str, config: CustomSourceConfig, context: SourceContext) -> Source:
    where = f"sources.custom.{name}"
    cls = load_class(config.class_, f"{where}.class")
    if cls.kind not in SOURCES:
        raise ConfigError(
            f"{where}.class",
            "ai-config.yml",
            f"{cls.__name__}.kind must be one of {', '.join(SOURCES)}",
            cls.kind,
        )
    common = config.model_dump(exclude={"class_", "options"})
    try:
        own = cls.Config.model_validate({**common, **config.options})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"{where}.options.{key}", "ai-config.yml", error["msg"]) from None
    return cls(own, context)


def build_sources(
    config: SourcesConfig,
    env: Mapping[str, Any],
    state_root: Path,
    redact: Redact,
    analysis: AnalysisConfig | None = None,
    only: str | None = None,
) -> list[Source]:
    """Every enabled source: built-in ones that are configured (or ``enabled: true``), and the
    custom ones. ``state_root``: ``VIGIL_DATA_DIR/sources``; each gets a folder of its own."""
    analysis = analysis or AnalysisConfig()
    sources: list[Source] = []

    def context(name: str) -> SourceContext:
        state = Path(state_root) / name
        state.mkdir(parents=True, exist_ok=True)
        return SourceContext(name=name, state_dir=state, redact=redact, analysis=analysis)

    for name, cls in BUILTIN.items():
        if only is not None and name != only:
            continue
        own = with_env(name, getattr(config, name), env)
        source = cls(own, context(name))
        if own.enabled is False or (own.enabled is None and not source.configured()):
            source.close()
            continue
        sources.append(source)
    for name, custom in config.custom.items():
        if (only is not None and name != only) or custom.enabled is False:
            continue
        sources.append(build_custom(name, custom, context(name)))
    return sources
