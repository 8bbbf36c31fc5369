"""Evaluation: batched generation, programmatic graders, sandboxed code, drift, format collapse, rewards.

- :mod:`~helpers.evals.generate`: :func:`generate` (one completion per prompt, batched, in order) and
  :func:`generate_until_stop` / :func:`stop_rate` (did each completion stop before its budget ran out).
- :mod:`~helpers.evals.graders`: exact match, numeric answers, verifiable constraints, unit-tested code.
- :mod:`~helpers.evals.sandbox`: :func:`run_tests` runs model-written code in a limited child process,
  against tests as data (:class:`CallCases`) that the code's process never sees the answers of.
- :mod:`~helpers.evals.drift`: :func:`mean_token_kl` to a reference model and :func:`perplexity`;
  :class:`RealPositionLogits` lines a prompt-tuned model's logits up with its input.
- :mod:`~helpers.evals.collapse`: :func:`label_share`, the share of answers that are a task's labels.
- :mod:`~helpers.evals.reward`: reward-model scores and win rates.
- :mod:`~helpers.evals.suite`: :func:`general_suite`, the named before/after battery of general ability
  (KL to the start, verifiable constraints, general questions) on items fixed by :func:`general_battery`.
- :mod:`~helpers.evals.probes`: knowledge probes: :func:`tally` (right / wrong / abstained),
  :func:`is_abstention`, :func:`answer_logprobs` (confidence) and :func:`separation` (its AUROC).
"""

from helpers.evals.collapse import is_label, label_share
from helpers.evals.drift import RealPositionLogits, mean_token_kl, perplexity, virtual_token_count
from helpers.evals.generate import (
    Completion,
    GenerationStats,
    generate,
    generate_until_stop,
    generate_with_stats,
    render_prompts,
    stop_rate,
)
from helpers.evals.graders import (
    check_constraint,
    check_constraints,
    code_score,
    constraint_score,
    exact_match,
    extract_code,
    extract_number,
    normalize_text,
    numeric_match,
)
from helpers.evals.probes import (
    IDK_ANSWER,
    Tally,
    answer_logprobs,
    grade,
    is_abstention,
    separation,
    tally,
)
from helpers.evals.reward import pairwise_win_rate, score_with_reward_model, win_rate
from helpers.evals.sandbox import CallCases, SandboxResult, network_isolation, plain_equal, run_many, run_tests
from helpers.evals.suite import GeneralBattery, answer_in_response, general_battery, general_suite

__all__ = [
    "Completion", "RealPositionLogits", "generate_until_stop", "stop_rate", "virtual_token_count",
    "GenerationStats", "SandboxResult", "check_constraint", "check_constraints", "code_score",
    "constraint_score", "exact_match", "extract_code", "extract_number", "generate", "generate_with_stats",
    "is_label", "label_share", "mean_token_kl", "normalize_text", "numeric_match", "pairwise_win_rate",
    "perplexity", "render_prompts", "run_many", "run_tests", "score_with_reward_model", "win_rate",
    "CallCases", "network_isolation", "plain_equal",
    "GeneralBattery", "answer_in_response", "general_battery", "general_suite",
    "IDK_ANSWER", "Tally", "answer_logprobs", "grade", "is_abstention", "separation", "tally",
]
