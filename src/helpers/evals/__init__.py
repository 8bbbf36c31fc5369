"""Evaluation: batched generation, programmatic graders, sandboxed code, drift, format collapse, rewards.

- :mod:`~helpers.evals.generate`: :func:`generate` (one completion per prompt, batched, in order).
- :mod:`~helpers.evals.graders`: exact match, numeric answers, verifiable constraints, unit-tested code.
- :mod:`~helpers.evals.sandbox`: :func:`run_tests` runs model-written code in a limited child process.
- :mod:`~helpers.evals.drift`: :func:`mean_token_kl` to a reference model and :func:`perplexity`.
- :mod:`~helpers.evals.collapse`: :func:`label_share`, the share of answers that are a task's labels.
- :mod:`~helpers.evals.reward`: reward-model scores and win rates.
"""

from helpers.evals.collapse import is_label, label_share
from helpers.evals.drift import mean_token_kl, perplexity
from helpers.evals.generate import GenerationStats, generate, generate_with_stats, render_prompts
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
from helpers.evals.reward import pairwise_win_rate, score_with_reward_model, win_rate
from helpers.evals.sandbox import SandboxResult, run_many, run_tests

__all__ = [
    "GenerationStats", "SandboxResult", "check_constraint", "check_constraints", "code_score",
    "constraint_score", "exact_match", "extract_code", "extract_number", "generate", "generate_with_stats",
    "is_label", "label_share", "mean_token_kl", "normalize_text", "numeric_match", "pairwise_win_rate",
    "perplexity", "render_prompts", "run_many", "run_tests", "score_with_reward_model", "win_rate",
]
