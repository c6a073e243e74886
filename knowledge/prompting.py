"""The prompt an LLM gets: the team's context from ai-config (system prompt, baselines, domain
knowledge, architecture, answer structure), the numbered evidence, and the question, within a
token budget.

Trimming is by priority: the system prompt, the answer structure and the question always stay;
then the evidence in rank order (long texts cut first, then the lowest-ranked dropped); then
domain knowledge; the architecture goes first when space is short. Tokens are counted with
``estimate_tokens`` (a safe over-estimate): the LLM's own tokenizer is not available offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.config import AnalysisConfig, PromptsConfig
from knowledge.evidence import Evidence
from knowledge.llm.base import Message, estimate_tokens

EVIDENCE_CHARS = 700


@dataclass(frozen=True)
class Prompt:
    messages: list[Message]
    evidence: list[Evidence]
    """The evidence that fitted, in citation order."""
    tokens: int
    dropped: int
    """Evidence items left out for lack of room."""


def system_text(analysis: AnalysisConfig, prompts: PromptsConfig, with_architecture: bool) -> str:
    lines = [prompts.system.replace("{company_name}", analysis.company_name).strip()]
    if analysis.baselines:
        lines.append("Team baselines (normal operating limits):")
        lines += [f"- {b.describe()}" for b in analysis.baselines]
    if with_architecture and analysis.architecture:
        lines.append(f"Architecture: {analysis.architecture.strip()}")
    lines.append(
        "Write the answer as: a one-line conclusion, then these sections in order: "
        + "; ".join(prompts.answer_structure)
        + ". Cite evidence as [n]. Do not invent numbers, hosts, times or causes."
    )
    return "\n".join(lines)


def evidence_block(evidence: Sequence[Evidence], chars: int = EVIDENCE_CHARS) -> str:
    lines = []
    for n, e in enumerate(evidence, start=1):
        text = " ".join(e.text.split())
        if len(text) > chars:
            text = text[: chars - 1] + "…"
        lines.append(f"[{n}] ({e.label}) {text}")
    return "\n".join(lines)


def build_prompt(
    question: str,
    evidence: Sequence[Evidence],
    analysis: AnalysisConfig,
    prompts: PromptsConfig,
    max_tokens: int,
) -> Prompt:
    """Messages within ``max_tokens`` (estimated), trimmed by priority."""
    domain = [f"- {line}" for line in analysis.domain_knowledge]
    with_architecture = True
    kept = list(evidence)
    chars = EVIDENCE_CHARS
    while True:
        system = system_text(analysis, prompts, with_architecture)
        user = ""
        if domain:
            user += "Team knowledge:\n" + "\n".join(domain) + "\n\n"
        user += "Evidence:\n" + (evidence_block(kept, chars) or "(none found)") + "\n\n"
        user += f"Question: {question}"
        tokens = estimate_tokens(system) + estimate_tokens(user) + 8
        if tokens <= max_tokens:
            break
        if with_architecture and analysis.architecture:
            with_architecture = False
        elif chars > 240:
            chars = max(240, chars // 2)
        elif len(kept) > 3:
            kept.pop()
        elif domain:
            domain.pop()
        elif kept:
            kept.pop()
        else:
            break  # only the fixed parts are left: send them as they are
    return Prompt(
        messages=[Message("system", system), Message("user", user)],
        evidence=kept,
        tokens=tokens,
        dropped=len(evidence) - len(kept),
    )
