"""Evaluation: batched generation, programmatic graders, sandboxed code, drift, format collapse, rewards.

- :mod:`~helpers.evals.graders`: exact match, numeric answers, verifiable constraints, unit-tested code.
- :mod:`~helpers.sandbox`: :func:`run_tests` runs model-written code in a limited child process,
  against tests as data (:class:`CallCases`) that the code's process never sees the answers of.
- :mod:`~helpers.evals.drift`: :func:`mean_token_kl` to a reference model (teacher-forced on given texts),
  :func:`sampled_kl` (on the model's own sampled answers, the KL that RLHF penalises) and :func:`perplexity`;
  :class:`RealPositionLogits` lines a prompt-tuned model's logits up with its input.
- :mod:`~helpers.evals.collapse`: :func:`label_share`, the share of answers that are a task's labels.
- :mod:`~helpers.evals.reward`: reward-model scores and win rates.
- :mod:`~helpers.evals.suite`: :func:`general_suite`, the named before/after battery of general ability
  (KL to the start, verifiable constraints, general questions) on items fixed by :func:`general_battery`.
- :mod:`~helpers.evals.probes`: knowledge probes: :func:`tally` (right / wrong / abstained),
  :func:`is_abstention` and :func:`separation` (the AUROC of a confidence such as
  :func:`helpers.lm.answer_logprobs`).

Generation and log-probabilities live one floor down, in :mod:`helpers.lm`; the names notebooks import
from here (``generate``, ``answer_logprobs``, ...) are that module's.
"""

from helpers.evals.collapse import is_label, label_share
from helpers.evals.drift import RealPositionLogits, mean_token_kl, perplexity, sampled_kl, virtual_token_count
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
    grade,
    is_abstention,
    separation,
    tally,
)
from helpers.evals.reward import pairwise_win_rate, score_with_reward_model, win_rate
from helpers.evals.suite import GeneralBattery, general_battery, general_items, general_suite
from helpers.lm import (
    Completion,
    GenerationStats,
    answer_logprobs,
    generate,
    generate_until_stop,
    generate_with_stats,
    render_prompts,
    stop_rate,
)
from helpers.sandbox import CallCases, SandboxResult, network_isolation, plain_equal, run_many, run_tests
from helpers.synth.task import answer_in_response

__all__ = [
    "Completion", "RealPositionLogits", "generate_until_stop", "stop_rate", "virtual_token_count",
    "GenerationStats", "SandboxResult", "check_constraint", "check_constraints", "code_score",
    "constraint_score", "exact_match", "extract_code", "extract_number", "generate", "generate_with_stats",
    "is_label", "label_share", "mean_token_kl", "normalize_text", "numeric_match", "pairwise_win_rate",
    "perplexity", "render_prompts", "sampled_kl", "run_many", "run_tests", "score_with_reward_model", "win_rate",
    "CallCases", "network_isolation", "plain_equal",
    "GeneralBattery", "answer_in_response", "general_battery", "general_items", "general_suite",
    "IDK_ANSWER", "Tally", "answer_logprobs", "grade", "is_abstention", "separation", "tally",
]
