"""Feedback: error classes, lessons, outcomes, capabilities, failure chains and durable rules (digest §4.5 item 8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.cognition.rules import feedback as fb
from colony.plugins.models.features import ERROR_CLASSES


@pytest.mark.parametrize(("message", "expected"), [
    ("error[E0308]: mismatched types", "compile"),
    ("cargo check failed", "compile"),
    ("test tests::it_works ... FAILED", "test"),
    ("No such file or directory", "file_not_found"),
    ("PROTECTED: 'core/kernel.py'", "protected_file"),
    ("peers found: 0", "unsolvable"),
    ("Goal abandoned after 3 retries", "unsolvable"),
    ("connection refused by peer", "network"),
    ("endpoint slug duplicate", "endpoint"),
    ("git push rejected", "git"),
    ("could not parse JSON reply", "llm_parse"),
    ("exit code 2", "shell"),
    ("something failed", "shell"),
    ("RESOURCE_EXHAUSTED: quota", "rate_limit"),
    ("429 Too Many Requests (json body, peer gemini)", "rate_limit"),
    ("", "unknown"),
])
def test_classify_error(message: str, expected: str) -> None:
    assert fb.classify_error(message) == expected


@given(st.text(max_size=200))
def test_classify_error_is_total(message: str) -> None:
    assert fb.classify_error(message) in (*ERROR_CLASSES, fb.UNKNOWN)


def test_error_index_follows_features() -> None:
    assert fb.error_index("compile") == 0 and fb.error_index("unsolvable") == 10 and fb.error_index("unknown") is None


def test_outcomes_and_lessons() -> None:
    steps = ["read_file", "edit_code", "commit"]
    ok = fb.make_outcome("p1", "g1", "Fix the bug", "completed", steps, 3, 0, True, None, 5.0)
    assert ok.status == "completed" and ok.steps_succeeded == steps and ok.steps_failed == []
    assert ok.lesson == "SUCCESS: 'Fix the bug' completed in 3 steps (read_file → edit_code → commit). Approach worked."
    trivial = fb.make_outcome("p2", "g1", "Look around", "completed", ["read_file"], 1, 0, False, None, 5.0)
    assert trivial.status == "completed_trivial" and trivial.lesson.startswith("COMPLETED_TRIVIAL: 'Look around'")
    bad = fb.make_outcome("p3", "g1", "Fix the bug", "failed", steps, 1, 2, True, "x" * 600 + " cargo check", 5.0)
    assert bad.steps_succeeded == ["read_file"] and bad.steps_failed == ["edit_code"]
    assert bad.error_category == "compile" and len(bad.error_message or "") == 500
    assert bad.lesson.startswith("FAILURE: 'Fix the bug' failed at step 1 (edit_code) — compile error: ")
    assert bad.lesson.endswith("Had 2 replans. Avoid this approach.")
    assert fb.PlanOutcome.from_dict(bad.to_dict()) == bad
    with pytest.raises(ValueError):
        fb.PlanOutcome.from_dict({"plan_id": "x"})


def test_consult_experience() -> None:
    a = fb.make_outcome("1", "g", "fix compile error", "failed", ["edit_code"], 0, 0, True, "cargo check", 0.0)
    b = fb.make_outcome("2", "g", "deploy cartridge now", "completed", ["commit"], 1, 0, True, None, 0.0)
    exp = fb.consult_experience([b, a], "fix compile error")
    # Jaccard: a = 3/3 = 1, b = 0/6 = 0 -> a first
    assert exp.relevant_lessons[0] == a.lesson and exp.failure_lessons == [a.lesson]
    assert (exp.completed, exp.failed, exp.total, exp.error_counts) == (1, 1, 2, {"compile": 1})


def test_capabilities_skip_rate_limits() -> None:
    profile: dict[str, fb.Capability] = {}
    fb.record_capability(profile, "code_compile", True)
    fb.record_capability(profile, "code_compile", False)
    fb.record_capability(profile, "code_compile", False, error="429 rate limit")
    assert profile["code_compile"].success_rate == 0.5 and profile["code_compile"].attempts == 2
    assert len(fb.CAPABILITIES) == 13
    with pytest.raises(ValueError):
        fb.record_capability(profile, "flying", True)


def test_failure_chains_and_rules() -> None:
    chains: list[fb.FailureChain] = []
    for t in range(3):
        chains = fb.record_failure_chain(chains, "goal", "edit_code src/a.py", "src/a.py", "cargo check failed", float(t))
    assert fb.record_failure_chain(chains, "goal", "think", None, "429", 9.0) is chains
    outcome = fb.make_outcome("p", "g", "goal", "failed", ["edit_code"], 0, 0, True, "PROTECTED: 'core/kernel.py'", 10.0)
    rules = fb.extract_durable_rules(outcome, chains, 10.0, cycle=4)
    by_name = {r.name: r for r in rules}
    assert by_name["block-core-kernel.py"].pattern == "core/kernel.py"
    assert by_name["block-step-edit_code-compile"].pattern == "edit_code:compile"
    assert by_name["block-file-error-src-a.py-compile"].pattern == "src/a.py"
    merged = fb.merge_durable_rules(rules, rules[:1])
    assert len(merged) == 3 and merged[[r.name for r in merged].index(rules[0].name)].trigger_count == 1
    blocked = fb.blocking_rules(merged, "any goal", [("edit_code", "pkg/src/a.py")])
    assert {r.check_type for r in blocked} == {"step_type_blocked", "file_blocked"}
    assert fb.expire_rules(merged, cycle=203) == merged and fb.expire_rules(merged, cycle=204) == []
    rate_limited = fb.make_outcome("p", "g", "goal", "failed", ["x"], 0, 0, True, "429 Too Many Requests", 0.0)
    assert fb.extract_durable_rules(rate_limited, chains, 0.0, 0) == []
    assert fb.extract_durable_rules(fb.make_outcome("p", "g", "goal", "completed", ["x"], 1, 0, True, None, 0.0), chains, 0.0, 0) == []


def test_chain_cap() -> None:
    chains: list[fb.FailureChain] = []
    for t in range(40):
        chains = fb.record_failure_chain(chains, "g", "run_shell", None, f"exit code {t}", float(t))
    assert len(chains) == 30 and chains[0].created_at == 10.0
    assert [fb.FailureChain.from_dict(c.to_dict()) for c in chains] == chains
