"""The quality filter for generated answers (training.quality)."""

from __future__ import annotations

import random
import re

import pytest

from training.quality import REASONS, QualityFilter, Verdict, clean

# --------------------------------------------------------------------------- realistic answers

GC_ANSWER = (
    "A full GC in G1 means the collector could not keep up with allocation: the heap filled "
    "before concurrent marking finished, so the JVM stopped every application thread and "
    "compacted the whole heap. Check the GC log for 'Pause Full (Allocation Failure)' and "
    "compare the old generation occupancy before and after. If it barely drops, you likely have "
    "a leak; if it drops a lot, raise -Xmx or lower InitiatingHeapOccupancyPercent."
)

CANNOT_ANSWER = (
    "When vemkd cannot reach a compute host, EGO marks the host unavailable and the slots it "
    "contributed to the resource group disappear. Jobs that were running there are requeued if "
    "the consumer allows it. The scheduler cannot place new work on the host until lim reports "
    "it again, so check the lim and pem daemons on that host first."
)

LIST_ANSWER = """\
To find out why Splunk alerts stopped firing, work through these checks in order:

1. Confirm the saved search is enabled and scheduled (Settings > Searches, reports, and alerts)
2. Look at the scheduler log: `index=_internal sourcetype=scheduler savedsearch_name="disk_full"`
3. Check whether the search was skipped because of concurrency limits
- Verify the alert's trigger condition still matches the number of results returned"""

CODE_END_ANSWER = """\
A thread dump shows what every JVM thread is doing at one moment. Take three of them a few
seconds apart and compare: threads stuck in the same frame are your suspects. On RHEL you can
take one with the JDK tools:

```bash
jcmd $(pgrep -f vigil-service) Thread.print > /tmp/threads.txt
```"""

TABLE_ANSWER = """\
Burn rate tells you how fast you are spending the error budget compared with a steady pace.
A burn rate of 1 exhausts the budget exactly at the end of the SLO window; multiwindow alerts
page on fast burns and open tickets on slow ones. Typical thresholds for a 30 day window:

| Window | Burn rate | Action |
|--------|-----------|--------|
| 1h     | 14.4      | page   |
| 6h     | 6         | ticket |"""

PERSONA_ANSWER = (
    "Honestly? I can't help but smile when someone asks about HikariCP timeouts, because it is "
    "almost never the pool's fault. Nine times out of ten the database is slow and connections "
    "stay checked out longer than expected. Raise leakDetectionThreshold, watch active versus "
    "idle connections, and the story usually tells itself. Happy debugging! 🚀"
)

QUOTED_REFUSAL_ANSWER = (
    "\"I'm sorry, but I can't commit to that date\" is a polite, professional way to push back "
    "on a deadline during sprint planning. Follow it with the reason and an alternative, for "
    "example: the change freeze starts Friday, so we could deliver the Jira integration in the "
    "next sprint instead."
)

HEDGE_THEN_ANSWER = (
    "I can't see your cluster from here, but the symptoms you describe match a job backlog in "
    "IBM Spectrum Conductor. When the number of pending jobs keeps rising while running jobs stay "
    "flat, the usual causes are a consumer that has reached its slot limit, a resource group "
    "whose hosts are closed, or a session scheduler that lost contact with vemkd. Run "
    "`egosh resource list` to see which hosts are closed, then compare the consumer's allocated "
    "and requested slots in the cluster management console. If slots are free but jobs stay "
    "pending, restart the session scheduler for that instance group during a quiet period."
)

PROMQL_ANSWER = """\
Use the ratio of 5xx responses to all responses over five minutes and alert when it stays above
one percent:

```promql
sum(rate(http_requests_total{job="payments",status=~"5.."}[5m]))
  / sum(rate(http_requests_total{job="payments"}[5m])) > 0.01
```

Add `for: 10m` to the rule so a single slow scrape does not page anyone."""

VEMKD = (
    "vemkd is the EGO master daemon on the management host: it keeps the cluster's resource "
    "inventory, allocates slots to consumers according to the resource plan, and restarts "
    "registered services when they fail."
)

GOOD_ANSWERS = {
    "can't reproduce, then the answer": "Sorry, I can't reproduce that locally, but " + VEMKD,
    "violates the policy": "Deploying during a change freeze violates the policy unless the CAB "
    "approves an emergency change. " + VEMKD,
    "persona hedge mid-sentence": "I'd start with the GC log. I've seen this many times: I don't "
    "have access to your logs, but " + VEMKD + " I think that's where I'd begin.",
    "cannot stress": "I cannot stress enough how important it is to alert on symptoms. " + VEMKD,
    "ends with a link": VEMKD + " See https://www.ibm.com/docs/en/spectrum-conductor",
    "ends with a parenthesis": VEMKD + " (Restart it only when the cluster is idle.)",
    "ends with indented code": VEMKD + " Check it with:\n\n    egosh service list",
    "plain": GC_ANSWER,
    "cannot in prose": CANNOT_ANSWER,
    "ends with a list item": LIST_ANSWER,
    "ends with a code block": CODE_END_ANSWER,
    "ends with a table": TABLE_ANSWER,
    "persona with can't help but and emoji": PERSONA_ANSWER,
    "quoted polite refusal": QUOTED_REFUSAL_ANSWER,
    "hedge then a full answer": HEDGE_THEN_ANSWER,
    "code-heavy": PROMQL_ANSWER,
}


def words(text: str) -> int:
    return len(re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text))


def shingles(text: str) -> set[tuple[str, ...]]:
    tokens = re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text.casefold())
    return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}


def jaccard(a: str, b: str) -> float:
    first, second = shingles(a), shingles(b)
    return len(first & second) / len(first | second)


# ------------------------------------------------------------------------------------- clean


def test_clean_strips_deepseek_reasoning_and_keeps_the_answer() -> None:
    raw = (
        "<think>\nThe user asks about full GC. Let me recall how G1 works... okay.\n</think>\n\n"
        + GC_ANSWER
    )
    assert clean(raw) == GC_ANSWER
    # the chat template opened the block, the model only closed it
    assert clean("Okay, so G1 is a region based collector.\n</think>\n" + GC_ANSWER) == GC_ANSWER


def test_clean_unwraps_quotes_and_prose_fences_but_keeps_code() -> None:
    assert clean(f'  "{CANNOT_ANSWER}"\r\n') == CANNOT_ANSWER
    assert clean(f"“{CANNOT_ANSWER}”") == CANNOT_ANSWER
    assert clean(f"```markdown\n{LIST_ANSWER}\n```") == LIST_ANSWER
    assert clean(LIST_ANSWER.replace("\n", "\r\n")) == LIST_ANSWER
    # inner quotes: not a wrapping pair
    quoted = '"Pause Full" means a stop-the-world collection; "Pause Young" is a minor one'
    assert clean(quoted) == quoted
    # a whole answer in a language fence is code, and the fence is part of it
    code_only = "```bash\nsystemctl status vemkd\n```"
    assert clean(code_only) == code_only
    # apostrophes inside a single-quoted answer do not block unwrapping
    assert clean("'It's the pool, it's always the pool.'") == "It's the pool, it's always the pool."


@pytest.mark.parametrize("text", [*GOOD_ANSWERS.values(), '""nested""', "<think>x</think> ' a '"])
def test_clean_is_idempotent(text: str) -> None:
    assert clean(clean(text)) == clean(text)


# ---------------------------------------------------------------------------- stateless checks


@pytest.mark.parametrize("name", GOOD_ANSWERS)
def test_good_technical_answers_pass(name: str) -> None:
    verdict = QualityFilter().check(GOOD_ANSWERS[name])
    assert verdict == Verdict(True, clean(GOOD_ANSWERS[name]), None), verdict.detail


@pytest.mark.parametrize("text", ["", "   \n\t", "<think>Let me think about vemkd.</think>\n"])
def test_empty(text: str) -> None:
    verdict = QualityFilter().check(text)
    assert (verdict.ok, verdict.reason, verdict.text) == (False, "empty", "")


def test_too_short_names_the_count() -> None:
    text = "Restart vemkd on the master host, then check that lim is running again."
    verdict = QualityFilter().check(text)
    assert (verdict.ok, verdict.reason) == (False, "too_short")
    assert f"{words(text)} words, at least 20" in verdict.detail
    assert QualityFilter(min_words=words(text)).check(text).ok


REFUSALS = [
    "I'm sorry, but I can't assist with that request. If you have other questions about "
    "monitoring or observability, feel free to ask and I will do my best to help.",
    "As an AI language model, I don't have access to your Splunk instance or its saved searches, "
    "so I cannot tell you why the alert stopped firing. Please check with your Splunk admin.",
    "I cannot help with that. Requests to bypass the change freeze or disable audit logging go "
    "against my guidelines, because they could undermine your SOX controls.",
    "I am unable to provide details about your bank's internal DORA register or its impact "
    "tolerances. Please consult your operational resilience team, who maintain that information.",
    "Unfortunately, I can’t share the production credentials for the Confluence service account, "
    "since that would expose sensitive data. Ask the platform team to grant you access instead.",
    "Sure, here is an overview. Actually, I apologize, but I'm not able to help with generating "
    "exploit code for the vemkd daemon. I must decline requests like this one. I can't help "
    "with that. Is there anything else about Spectrum Conductor I can explain?",
]


SHORT_REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I’m afraid I can’t do that.",
    "I'm not able to provide assistance with that.",
    "I can't assist with that request.",
    "Sorry, but I cannot provide that information.",
    "I apologize, but I cannot fulfill this request.",
    "As a large language model, I do not have opinions.",
    "I'm just an AI and don't have access to your servers.",
    "I won't provide instructions for disabling audit logging.",
    "I must respectfully decline.",
    "That would go against my guidelines.",
]
OFFER = (
    " If you have other questions about observability, Splunk or Java tuning, just ask me here."
    " Happy to help."
)
REFUSALS += [refusal + OFFER for refusal in SHORT_REFUSALS]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals(text: str) -> None:
    verdict = QualityFilter().check(text)
    assert words(text) >= 20  # rejected as a refusal, not for length
    assert (verdict.ok, verdict.reason) == (False, "refusal"), verdict.detail


def test_refusal_in_the_middle_of_a_long_answer_is_not_the_answer() -> None:
    text = (
        GC_ANSWER + " I can't tell you the right -Xmx without seeing the GC log, but a heap that "
        "stays above 80 percent after every mixed collection is too small. " + CANNOT_ANSWER
    )
    assert QualityFilter().check(text).ok


TRUNCATED = {
    "mid sentence": GC_ANSWER + " Another common cause is humongous allocation, which happens when",
    "unclosed code fence": CODE_END_ANSWER.removesuffix("```"),
    "dangling list marker": LIST_ANSWER + "\n5.",
    "list item ends mid-sentence": LIST_ANSWER + "\n- Compare the alert's cron schedule with the",
    "ends with a heading": GC_ANSWER + "\n\n## Tuning G1",
}


@pytest.mark.parametrize("name", TRUNCATED)
def test_truncated(name: str) -> None:
    verdict = QualityFilter().check(TRUNCATED[name])
    assert (verdict.ok, verdict.reason) == (False, "truncated"), verdict.detail


def test_finish_reason_length_is_truncated_even_if_it_looks_complete() -> None:
    verdict = QualityFilter().check(GC_ANSWER, finish_reason="length")
    assert (verdict.ok, verdict.reason) == (False, "truncated")
    assert "length" in verdict.detail
    assert QualityFilter().check(GC_ANSWER, finish_reason="stop").ok


LOOP_SENTENCE = "The JVM heap usage is high because the old generation is full."
MALFORMED = {
    "unclosed think": "<think>\nThe user wants to know about Splunk tstats. First I should "
    + GC_ANSWER,
    "replacement characters": GC_ANSWER.replace("compacted", "comp\ufffd\ufffdcted"),
    "json error object": '{"error": {"message": "The model `gpt-5-turbo` does not exist or you '
    'do not have access to it.", "type": "invalid_request_error", "code": "model_not_found"}}',
    "sentence loop": GC_ANSWER + " " + " ".join([LOOP_SENTENCE] * 4),
    "tail cycle without punctuation": CANNOT_ANSWER
    + " and then the pool grows and then the pool grows and then the pool grows and then the "
    "pool grows",
    "word stutter": CANNOT_ANSWER + " The the the the the the the heap is full.",
    "instruction echo": "### Instruction:\nExplain the Java heap.\n\n### Response:\n" + GC_ANSWER,
    "user echo": "User: what does vemkd do?\nAssistant: " + CANNOT_ANSWER,
    "chat template tokens": GC_ANSWER + "<|im_end|>\n<|im_start|>user\nthanks",
    "line noise": "## ** -- == :: ## " * 20 + "\n\n" + "=" * 60 + " 0x7f 0x3a ;; ||.",
    "traceback": 'Traceback (most recent call last):\n  File "gen.py", line 12, in <module>\n'
    "    response = client.chat(model=model)\nollama._types.ResponseError: model 'llama3' not "
    "found, try pulling it first. The server returned status 404 for this request.",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed(name: str) -> None:
    verdict = QualityFilter().check(MALFORMED[name])
    assert (verdict.ok, verdict.reason) == (False, "malformed"), verdict.detail


def test_repetition_below_three_times_is_fine() -> None:
    text = GC_ANSWER + " " + " ".join([LOOP_SENTENCE] * 2)
    assert QualityFilter().check(text).ok


def test_every_rejection_reason_is_one_of_reasons() -> None:
    cases = [*REFUSALS, *TRUNCATED.values(), *MALFORMED.values(), "", "Too short."]
    reasons = {QualityFilter().check(text).reason for text in cases}
    assert reasons <= set(REASONS)
    assert reasons == {"empty", "too_short", "refusal", "truncated", "malformed"}


# ---------------------------------------------------------------------------------- duplicates


def test_exact_duplicate_ignores_case_punctuation_and_whitespace() -> None:
    quality = QualityFilter()
    assert quality.accept(GC_ANSWER).ok
    variant = "  " + GC_ANSWER.upper().replace(",", "").replace(" ", "  ") + "\n"
    verdict = quality.accept(variant)
    assert (verdict.ok, verdict.reason) == (False, "duplicate")
    assert len(quality) == 1


def test_near_duplicate_paraphrase_is_dropped_and_a_real_paraphrase_kept() -> None:
    near = GC_ANSWER.replace("you likely have a leak", "you probably have a leak")
    rewritten = (
        "G1 falls back to a full, stop-the-world collection when concurrent marking cannot finish "
        "before the heap runs out. Look in the GC log for 'Pause Full (Allocation Failure)' and "
        "see how much old-generation memory is freed: little means a leak, a lot means the heap is "
        "simply too small or marking starts too late."
    )
    assert jaccard(GC_ANSWER, near) >= 0.85 > jaccard(GC_ANSWER, rewritten)
    quality = QualityFilter()
    assert quality.accept(GC_ANSWER).ok
    verdict = quality.accept(near)
    assert (verdict.ok, verdict.reason) == (False, "near_duplicate")
    assert quality.accept(rewritten).ok
    assert len(quality) == 2


def test_near_duplicate_decisions_match_brute_force_jaccard() -> None:
    rng = random.Random(7)
    base = (GC_ANSWER + " " + CANNOT_ANSWER).split()
    vocabulary = sorted(set(re.findall(r"[a-z]+", (HEDGE_THEN_ANSWER + TABLE_ANSWER).lower())))
    for edits in range(0, 16):
        for _ in range(3):
            mutated = list(base)
            for _ in range(edits):
                mutated[rng.randrange(len(mutated) - 1)] = rng.choice(vocabulary)
            candidate = " ".join(mutated)
            quality = QualityFilter()
            quality.remember(" ".join(base))
            similarity = jaccard(" ".join(base), candidate)
            verdict = quality.accept(candidate)
            expected = "duplicate" if similarity == 1 else "near_duplicate"
            if similarity >= 0.85:
                assert verdict.reason == expected, (edits, similarity)
            else:
                assert verdict.ok, (edits, similarity, verdict)


def test_threshold_is_configurable() -> None:
    looser = GC_ANSWER.replace("likely", "probably").replace("raise", "increase")
    looser = looser.replace("barely", "hardly").replace("whole", "entire")
    similarity = jaccard(GC_ANSWER, looser)
    assert 0.5 <= similarity < 0.85
    default, lenient = QualityFilter(), QualityFilter(near_duplicate=0.5)
    for quality in (default, lenient):
        quality.remember(GC_ANSWER)
    assert default.accept(looser).ok
    assert lenient.accept(looser).reason == "near_duplicate"
    with pytest.raises(ValueError, match="near_duplicate"):
        QualityFilter(near_duplicate=1.5)


def test_rejected_answers_are_not_remembered() -> None:
    quality = QualityFilter()
    assert quality.accept(GC_ANSWER, finish_reason="length").reason == "truncated"
    assert len(quality) == 0
    verdict = quality.accept(f"<think>reasoning</think>{GC_ANSWER}", scope="technical_explanation")
    assert verdict.ok and verdict.text == GC_ANSWER
    assert len(quality) == 1


def test_remember_restores_state_for_resume() -> None:
    quality = QualityFilter()
    for text in (GC_ANSWER, CANNOT_ANSWER, GC_ANSWER):
        quality.remember(text)
    assert len(quality) == 2  # the same text remembered twice counts once
    assert quality.accept(CANNOT_ANSWER).reason == "duplicate"
    near = CANNOT_ANSWER.replace("check the lim", "verify the lim")
    assert quality.accept(near).reason == "near_duplicate"
    assert quality.accept(PERSONA_ANSWER).ok
    assert len(quality) == 3


def random_text(rng: random.Random, vocabulary: list[str], length: int = 80) -> str:
    chosen = [rng.choice(vocabulary) for _ in range(length)]
    return " ".join(" ".join(chosen[i : i + 16]).capitalize() + "." for i in range(0, length, 16))


def test_candidate_search_is_sublinear() -> None:
    rng = random.Random(3)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=6)) for _ in range(2000)]
    remembered = [random_text(rng, vocabulary) for _ in range(5000)]
    quality = QualityFilter()
    for text in remembered:
        quality.remember(text)
    fresh = [random_text(rng, vocabulary) for _ in range(200)]
    assert all(quality.accept(text).ok for text in fresh)
    # unrelated texts almost never reach the exact comparison, whatever the number remembered
    assert quality.exact_comparisons < 20
    # while a near copy of any one of the 5,000 is still found
    target = remembered[rng.randrange(len(remembered))].split()
    target[40] = "changed"
    assert quality.accept(" ".join(target)).reason == "near_duplicate"
    assert quality.exact_comparisons >= 1
