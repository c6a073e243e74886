"""The domain vocabulary in ``data_config/`` that the language dataset is generated from.

Nine YAML files, each validated on load by a strict schema (unknown keys are errors, with a
did-you-mean hint)::

    technical_terms.yaml       categories of terms (definition, monitoring, troubleshooting, impact)
    error_patterns.yaml        log lines and alerts with meaning, causes, diagnosis, resolution
    conversation_prompts.yaml  operator questions with context and the points a good answer makes
    metrics_patterns.yaml      metrics (unit, normal range, thresholds, correlations) and anomalies
    personality_types.yaml     answering personas (system prompt, opening, closing, focus)
    question_styles.yaml       ways of asking (templates with {term}) and the answer format
    english_patterns.yaml      phrasings of questions (templates with {term}) and a reply opening
    project_management.yaml    delivery and ITSM terms as an operations team uses them
    banking_terms.yaml         regulatory, compliance and operational-resilience terms

``load_vocabulary(config_dir)`` reads them all; any problem is a ``VocabularyError`` of one line
naming the file, the key path (``categories.java_runtime.terms[3].definition``) and what is
expected.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from knowledge.config import StrictModel
from knowledge.errors import ConfigError
from training.simulate import ANOMALY_TYPES as _SIMULATED_TYPES
from training.simulate import SEED_METRICS as _SIMULATED_METRICS

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=64)]
Label = Annotated[str, Field(min_length=1, max_length=80)]
Text = Annotated[str, Field(min_length=20)]
Angle = Literal["definition", "monitoring", "troubleshooting", "impact"]
ANGLES: tuple[str, ...] = ("definition", "monitoring", "troubleshooting", "impact")
SEED_METRICS: tuple[str, ...] = tuple(_SIMULATED_METRICS)
"""The eight metrics of the origin's metrics dataset (what the fleet simulator generates)."""
ANOMALY_TYPES: tuple[str, ...] = tuple(_SIMULATED_TYPES)


class VocabularyError(ConfigError):
    """A vocabulary file is missing, is not valid YAML, or does not follow its schema."""


class _At(ValueError):
    """A cross-field check that failed at ``key`` (a path below the model that raised it)."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(expected)
        self.key = key
        self.expected = expected


def _unique(items: tuple[Any, ...], what: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.name in seen:
            raise _At(f"{what}[{index}].name", f"a unique name ('{item.name}' is used twice)")
        seen.add(item.name)


# --------------------------------------------------------------------- technical_terms.yaml
class Term(StrictModel):
    """One technical term, with one text per answer angle."""

    name: Name
    label: Label
    definition: Text
    monitoring: Text
    troubleshooting: Text
    impact: Text
    related: tuple[Name, ...] = ()


class TermCategory(StrictModel):
    title: Label
    description: Text
    terms: tuple[Term, ...] = Field(min_length=1)


class TechnicalTerms(StrictModel):
    categories: dict[Name, TermCategory] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unique_and_related_known(self) -> TechnicalTerms:
        names: set[str] = set()
        for key, category in self.categories.items():
            for index, term in enumerate(category.terms):
                if term.name in names:
                    raise _At(
                        f"categories.{key}.terms[{index}].name",
                        f"a name unique across categories ('{term.name}' is used twice)",
                    )
                names.add(term.name)
        for key, category in self.categories.items():
            for index, term in enumerate(category.terms):
                for other in term.related:
                    if other not in names:
                        close = difflib.get_close_matches(other, sorted(names), n=1)
                        hint = f"; did you mean '{close[0]}'?" if close else ""
                        raise _At(
                            f"categories.{key}.terms[{index}].related",
                            f"names of terms in this file ('{other}' is not one{hint})",
                        )
        return self

    def all_terms(self) -> list[tuple[str, Term]]:
        """``(category key, term)`` for every term, in file order."""
        return [(key, t) for key, c in self.categories.items() for t in c.terms]


# ---------------------------------------------------------------------- error_patterns.yaml
class ErrorPattern(StrictModel):
    name: Name
    label: Label
    category: Name
    severity: Literal["low", "medium", "high", "critical"]
    message: Annotated[str, Field(min_length=5)]
    meaning: Text
    causes: tuple[Text, ...] = Field(min_length=1)
    diagnosis: tuple[Text, ...] = Field(min_length=1)
    resolution: tuple[Text, ...] = Field(min_length=1)
    prevention: Text


class ErrorPatterns(StrictModel):
    patterns: tuple[ErrorPattern, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ErrorPatterns:
        _unique(self.patterns, "patterns")
        return self


# ---------------------------------------------------------------- conversation_prompts.yaml
class ConversationPrompt(StrictModel):
    name: Name
    category: Name
    user: Annotated[str, Field(min_length=5)]
    context: Text
    answer: tuple[Text, ...] = Field(min_length=2)
    follow_up: Text
    stakeholder_note: Text


class ConversationPrompts(StrictModel):
    prompts: tuple[ConversationPrompt, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ConversationPrompts:
        _unique(self.prompts, "prompts")
        return self


# -------------------------------------------------------------------- metrics_patterns.yaml
class Metric(StrictModel):
    label: Label
    category: Name
    unit: Annotated[str, Field(min_length=1)]
    description: Text
    normal_range: tuple[float, float]
    warning: float
    critical: float
    higher_is_worse: bool = True
    correlations: tuple[Name, ...] = ()
    patterns: tuple[Text, ...] = Field(min_length=1)
    query: Annotated[str, Field(min_length=5)]

    @model_validator(mode="after")
    def _ordered(self) -> Metric:
        low, high = self.normal_range
        if low > high:
            raise ValueError("normal_range must be [low, high] with low <= high")
        if self.higher_is_worse and not (high <= self.warning <= self.critical):
            raise ValueError("expected normal_range high <= warning <= critical")
        if not self.higher_is_worse and not (low >= self.warning >= self.critical):
            raise ValueError("expected normal_range low >= warning >= critical (lower is worse)")
        return self


class Anomaly(StrictModel):
    label: Label
    metrics: tuple[Name, ...] = Field(min_length=1)
    signature: Text
    causes: tuple[Text, ...] = Field(min_length=1)
    first_checks: tuple[Text, ...] = Field(min_length=1)
    impact: Text


class MetricsPatterns(StrictModel):
    metrics: dict[Name, Metric] = Field(min_length=1)
    anomalies: dict[Name, Anomaly] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> MetricsPatterns:
        missing = [m for m in SEED_METRICS if m not in self.metrics]
        if missing:
            raise _At("metrics", f"entries for the seed metrics (missing {missing})")
        missing = [a for a in ANOMALY_TYPES if a not in self.anomalies]
        if missing:
            raise _At("anomalies", f"entries for the anomaly types (missing {missing})")
        for name, metric in self.metrics.items():
            for other in metric.correlations:
                if other not in self.metrics:
                    raise _At(
                        f"metrics.{name}.correlations", f"metric names ('{other}' is not one)"
                    )
        for name, anomaly in self.anomalies.items():
            for other in anomaly.metrics:
                if other not in self.metrics:
                    raise _At(f"anomalies.{name}.metrics", f"metric names ('{other}' is not one)")
        return self


# ------------------------------------------------------------------- personality_types.yaml
class Personality(StrictModel):
    name: Name
    label: Label
    description: Text
    system_prompt: Text
    opening: Text
    closing: Text


class PersonalityTypes(StrictModel):
    personalities: tuple[Personality, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> PersonalityTypes:
        _unique(self.personalities, "personalities")
        return self


# --------------------------------------------------------------------- question_styles.yaml
def _has_term(text: str) -> str:
    if "{term}" not in text:
        raise ValueError("a template must contain {term}")
    stray = set(re.findall(r"\{([^}]*)\}", text)) - {"term"}
    if stray:
        raise ValueError(f"a template may only use the placeholder {{term}}, not {sorted(stray)}")
    return text


class QuestionTemplate(StrictModel):
    text: Annotated[str, Field(min_length=8)]
    angle: Angle

    _check_text = field_validator("text")(_has_term)


class QuestionStyle(StrictModel):
    name: Name
    label: Label
    description: Text
    answer_format: Literal[
        "brief", "detailed", "steps", "checklist", "comparison",
        "executive", "example", "beginner", "expert", "scenario",
    ]  # fmt: skip
    templates: tuple[QuestionTemplate, ...] = Field(min_length=1)


class QuestionStyles(StrictModel):
    styles: tuple[QuestionStyle, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> QuestionStyles:
        _unique(self.styles, "styles")
        return self


# -------------------------------------------------------------------- english_patterns.yaml
class EnglishPattern(StrictModel):
    name: Name
    category: Name
    tone: Literal["formal", "neutral", "casual", "terse", "hedged", "urgent"]
    description: Text
    templates: tuple[Annotated[str, Field(min_length=8)], ...] = Field(min_length=1)
    reply_opening: Text
    focus: Angle

    @field_validator("templates")
    @classmethod
    def _terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            _has_term(text)
        return value


class EnglishPatterns(StrictModel):
    patterns: tuple[EnglishPattern, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> EnglishPatterns:
        _unique(self.patterns, "patterns")
        return self


# ---------------------------------------------------- project_management / banking_terms.yaml
class PMTerm(StrictModel):
    name: Name
    label: Label
    category: Name
    definition: Text
    in_operations: Text
    example: Text
    pitfalls: Text


class ProjectManagement(StrictModel):
    terms: tuple[PMTerm, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ProjectManagement:
        _unique(self.terms, "terms")
        return self


class BankingTerm(StrictModel):
    name: Name
    label: Label
    category: Name
    definition: Text
    operational_impact: Text
    evidence: Text
    scenario: Text


class BankingTerms(StrictModel):
    terms: tuple[BankingTerm, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> BankingTerms:
        _unique(self.terms, "terms")
        return self


# ------------------------------------------------------------------------------- together
FILES: dict[str, tuple[str, type[StrictModel]]] = {
    "technical_terms": ("technical_terms.yaml", TechnicalTerms),
    "error_patterns": ("error_patterns.yaml", ErrorPatterns),
    "conversation_prompts": ("conversation_prompts.yaml", ConversationPrompts),
    "metrics_patterns": ("metrics_patterns.yaml", MetricsPatterns),
    "personality_types": ("personality_types.yaml", PersonalityTypes),
    "question_styles": ("question_styles.yaml", QuestionStyles),
    "english_patterns": ("english_patterns.yaml", EnglishPatterns),
    "project_management": ("project_management.yaml", ProjectManagement),
    "banking_terms": ("banking_terms.yaml", BankingTerms),
}
"""Vocabulary field -> (file name in the config dir, schema)."""


class Vocabulary(StrictModel):
    """All nine vocabulary files, validated. Immutable."""

    technical_terms: TechnicalTerms
    error_patterns: ErrorPatterns
    conversation_prompts: ConversationPrompts
    metrics_patterns: MetricsPatterns
    personality_types: PersonalityTypes
    question_styles: QuestionStyles
    english_patterns: EnglishPatterns
    project_management: ProjectManagement
    banking_terms: BankingTerms

    def config_hash(self) -> str:
        """sha256 hex of the canonical content: the same for the same content, whatever the key
        order, comments or formatting of the files."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def counts(self) -> dict[str, int]:
        """Entries per file (terms, patterns, prompts, metrics + anomalies, ...)."""
        return {
            "technical_terms": len(self.technical_terms.all_terms()),
            "error_patterns": len(self.error_patterns.patterns),
            "conversation_prompts": len(self.conversation_prompts.prompts),
            "metrics_patterns": len(self.metrics_patterns.metrics)
            + len(self.metrics_patterns.anomalies),
            "personality_types": len(self.personality_types.personalities),
            "question_styles": len(self.question_styles.styles),
            "english_patterns": len(self.english_patterns.patterns),
            "project_management": len(self.project_management.terms),
            "banking_terms": len(self.banking_terms.terms),
        }


def load_vocabulary(config_dir: Path) -> Vocabulary:
    """Read and validate the nine vocabulary files in ``config_dir``."""
    parts = {
        field: _load_file(Path(config_dir) / name, model) for field, (name, model) in FILES.items()
    }
    return Vocabulary.model_construct(**parts)


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_file(path: Path, model: type[StrictModel]) -> Any:
    if not path.is_file():
        raise VocabularyError(
            "(file)", str(path), "expected this vocabulary file; restore it from the Vigil package"
        )
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise VocabularyError(
            where, str(path), f"expected valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not isinstance(data, dict):
        raise VocabularyError("(top level)", str(path), "expected a mapping of keys to values")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, path, model) from None


def _one_line(exc: ValidationError, path: Path, model: type[StrictModel]) -> VocabularyError:
    errors = exc.errors()
    # a misspelt key is both unknown and missing: report it as unknown, with the suggestion
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = list(error["loc"])
    key = _key_path(loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return VocabularyError(key, str(path), f"unknown key{hint} (allowed: {', '.join(allowed)})")
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, _At):
        return VocabularyError(
            _key_path([*loc, *original.key.split(".")]), str(path), f"expected {original.expected}"
        )
    message = re.sub(r"^(Value error|Assertion failed), ", "", str(error["msg"]))
    expected = message[:1].lower() + message[1:]
    got = error.get("input")
    if isinstance(got, dict | list) or error["type"] == "missing":
        got = None
    elif isinstance(got, str) and len(got) > 60:
        got = got[:57] + "..."
    return VocabularyError(key, str(path), expected, got)


def _key_path(loc: list[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _allowed_keys(model: type[StrictModel], loc: list[int | str]) -> list[str]:
    """The field names allowed at ``loc`` inside ``model``, for the did-you-mean hint."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", {})
        if isinstance(part, str) and part in fields:
            current = _inner_model(fields[part].annotation) or current
    return list(getattr(current, "model_fields", {}))


def _inner_model(annotation: Any) -> Any:
    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in reversed(getattr(annotation, "__args__", ())):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
