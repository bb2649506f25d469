"""The one documented place for the models' input features, output classes and token ids.

Brain (`brain/1`)
    example  {"features": [128 floats], "success": 0|1, "error": ERROR_CLASSES index | None,
              "capabilities": [11 floats in 0..1, or None where the step says nothing]}
    predict  {"features": [128 floats]} -> {"success": p, "error": [11 probabilities], "capabilities": [11 p]}
    `error` is the failure's class (None when the step succeeded or the class is unknown: no error loss);
    a capability entry of None adds no loss, as the seed trained only the step's own capability.

Quality (`quality/1`)
    example  {"features": [32 floats], "score": float in -1..1}
    predict  {"features": [32 floats]} -> {"score": float in -1..1}

Plan (`plan/1`), token ids from the plugin's step vocabulary (PAD, BOS, EOS, UNK, then step names)
    example  {"tokens": [ids]}                        BOS/EOS are added by the model
    predict  {"prefix": [ids], "max_len": n, "temperature": t, "beam": k} -> {"tokens": [ids]}

Codegen (`codegen/1`), token ids from the plugin's BPE tokenizer
    example  {"source": [ids], "target": [ids]}       tests in, solution out; BOS/EOS added by the model
    predict  {"source": [ids], "max_len": n} -> {"tokens": [ids]}   (greedy, stops at EOS)
"""

from __future__ import annotations

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")

STEP_TYPE_SLOTS = 14
PROBLEM_CATEGORY_SLOTS = 14

# Brain inputs, in order. The seed's encode_step defined 0-63; 64-127 are reserved for the cognition
# systems. Values are scaled as the name says (x/3 means the raw count divided by 3), roughly 0..1.
BRAIN_FEATURES: tuple[str, ...] = (
    *(f"step_type.{i}" for i in range(STEP_TYPE_SLOTS)),  # one-hot, the step kinds named by cognition
    "step_is_llm",
    "plan_progress",
    "replans/3",
    "success_rate",
    "capability_success_rate",
    "consecutive_failures/5",
    "ln(1+cycles)/10",
    "hours_since_commit/24",
    "active_goals/3",
    "steps_remaining/20",
    "endpoints/10",
    "fitness",
    "(elo-800)/800",
    "pass_at_1/100",
    "peers/10",
    "colony_pass_at_1",
    "trivial_ratio",
    "benchmark_attempts/100",
    "benchmark_solved/100",
    "multi_agent_ratio",
    "ln(1+train_steps)/15",
    "generation/5",
    "selfplay.difficulty",
    "selfplay.retry",
    "selfplay.peer_context",
    "selfplay.peer_review",
    "selfplay.compiled",
    "selfplay.reserved.0",
    "selfplay.reserved.1",
    *(f"problem_category.{i}" for i in range(PROBLEM_CATEGORY_SLOTS)),  # one-hot
    "ln(1+solution_len)/10",
    "tests/50",
    "has_starter",
    "colony_fitness_mean",
    "hours_since_benchmark/24",
    "sessions/20",
    "economic_fitness",
    *(f"reserved.{i}" for i in range(64, 128)),
)

# Brain outputs 1-11: the class of a failed step (softmax); the seed's `classify_error` categories.
ERROR_CLASSES: tuple[str, ...] = (
    "compile",
    "test",
    "file_not_found",
    "shell",
    "network",
    "protected_file",
    "endpoint",
    "git",
    "rate_limit",
    "llm_parse",
    "unsolvable",
)

# Brain outputs 12-22: per-capability success (sigmoids). The seed's step-level capabilities; its
# plan-level PlanComplete and review-level CodeAccepted are left to the feedback system.
CAPABILITIES: tuple[str, ...] = (
    "file_read",
    "file_write",
    "code_compile",
    "test_pass",
    "shell_exec",
    "peer_call",
    "peer_review",
    "endpoint_create",
    "git_ops",
    "code_gen",
    "code_search",
)

# Quality inputs: features of one code diff (git diff --numstat plus the unified diff), each scaled
# to roughly 0..1 as the name says.
QUALITY_FEATURES: tuple[str, ...] = (
    "files_changed/10",
    "lines_added/500",
    "lines_removed/500",
    "net_lines/500",
    "ln(1+churn)/10",
    "max_file_churn/200",
    "hunks/20",
    "files_added/5",
    "files_deleted/5",
    "test_files_changed/5",
    "test_lines_added/200",
    "test_lines_removed/200",
    "doc_lines_changed/200",
    "functions_added/20",
    "functions_removed/20",
    "classes_added/5",
    "classes_removed/5",
    "imports_added/10",
    "imports_removed/10",
    "comment_lines_added/100",
    "todo_added/5",
    "bare_except_added/5",
    "type_hints_added/20",
    "asserts_added/20",
    "max_nesting_added/8",
    "mean_line_length/120",
    "long_lines_added/20",
    "duplicate_lines_added/50",
    "config_files_changed/5",
    "public_api_changed",
    "reverts_previous",
    "touches_protected",
)

assert len(BRAIN_FEATURES) == 128 and len(set(BRAIN_FEATURES)) == 128
assert len(ERROR_CLASSES) == 11 and len(CAPABILITIES) == 11
assert len(QUALITY_FEATURES) == 32 and len(set(QUALITY_FEATURES)) == 32
