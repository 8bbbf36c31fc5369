"""Baselines: every evaluation of the course, run once on the untrained default model.

Later notebooks compare their fine-tuned models against these "before" numbers, read from
``results/gpu/baselines.json``. Run it with::

    python -m helpers.evals.baselines --profile gpu      # or smoke / cpu / auto

Each suite uses the data the notebooks use: the held-out constraint prompts of ``data/``, and the
synthetic math, code, true/false and world-QA generators with a fixed seed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from helpers.data import read_jsonl
from helpers.evals.collapse import label_share
from helpers.evals.drift import perplexity
from helpers.evals.graders import code_score, constraint_score, exact_match
from helpers.evals.reward import pairwise_win_rate
from helpers.lm import generate, generate_with_stats
from helpers.models import load_model
from helpers.report import Report, repo_root
from helpers.runtime import get_profile, pick_device, pick_dtype, seed_everything
from helpers.synth import arith, instructions, pycode, truefalse, world

SUITE_SIZE = {"smoke": 4, "cpu": 24, "gpu": 200}
THROUGHPUT_PROMPTS = {"smoke": 8, "cpu": 16, "gpu": 500}
THROUGHPUT_NEW_TOKENS = 64
H100_BUDGET_S = 15.0  # 500 prompts x 64 new tokens on one H100

MATH_INSTRUCTION = "Solve the problem step by step. End with a final line of the form '#### <number>'.\n\n"
CODE_INSTRUCTION = "Reply with only the Python function in a ```python code block.\n\n"


def _general_texts(limit: int) -> list[str]:
    """Assistant replies of the shipped general set: fluent text the model should find likely."""
    rows = read_jsonl(repo_root() / "data" / "general_instructions.jsonl", fmt="chat")
    replies = [m["content"] for row in rows for m in row["messages"] if m["role"] == "assistant"]
    return replies[:limit]


def run(profile_name: str, model_id: str = "", seed: int = 0) -> Report:
    """Run every suite, record metrics and claims, and save ``results/<profile>/baselines.json``."""
    profile = get_profile(profile_name)
    if model_id:
        profile = profile.with_overrides(model_id=model_id)
    seed_everything(seed)
    n = SUITE_SIZE[profile.name]
    report = Report("baselines", profile, params={"seed": seed, "suite_size": n})
    device = pick_device()
    model, tokenizer = load_model(profile.model_id, dtype=pick_dtype(device), device=device)
    report.metric("model_source", model.tuning_lab_source)
    gen_kwargs: dict[str, Any] = {"progress": False}

    # Verifiable instructions: the general-ability probe of every later notebook.
    eval_rows = read_jsonl(repo_root() / "data" / "eval_general.jsonl")[: max(n, 8)]
    with report.timer("constraints_s"):
        greedy = generate(model, tokenizer, [r["prompt"] for r in eval_rows], max_new_tokens=128, **gen_kwargs)
    scores = constraint_score(greedy, [r["constraints"] for r in eval_rows])
    report.metric("constraints", {k: scores[k] for k in ("prompt_level", "constraint_level", "per_type", "n")})
    report.metric("general_label_share", label_share(greedy))

    # Math word problems, graded on the '#### n' answer.
    problems = arith.make_problems(n, seed=seed)
    with report.timer("math_s"):
        answers = generate(model, tokenizer, [MATH_INSTRUCTION + p.question for p in problems],
                           max_new_tokens=192, **gen_kwargs)
    math_acc = sum(arith.extract_answer(a) == p.answer for a, p in zip(answers, problems, strict=True)) / n
    report.metric("math_accuracy", math_acc)

    # Python functions, run against hidden tests in the sandbox.
    tasks = pycode.make_code_tasks(n, seed=seed)
    with report.timer("code_s"):
        programs = generate(model, tokenizer, [CODE_INSTRUCTION + t.instruction for t in tasks],
                            max_new_tokens=256, **gen_kwargs)
        code = code_score(programs, [t.tests for t in tasks])
    report.metric("code", {k: code[k] for k in ("pass_rate", "passed", "n", "statuses")})

    # True/False entailment: accuracy, and how often the answer is a bare label at all.
    examples = truefalse.make_examples(n, seed=seed)
    tf_answers = generate(model, tokenizer, [e["prompt"] for e in examples], max_new_tokens=8, **gen_kwargs)
    report.metric("truefalse_accuracy",
                  sum(truefalse.grade(a, e["label"]) for a, e in zip(tf_answers, examples, strict=True)) / n)
    report.metric("truefalse_label_share", label_share(tf_answers))

    # Facts about invented people: a pretrained model cannot know them.
    people = world.make_world(max(n // 2, 2), seed=seed)
    qa = people.qa_pairs()[:n]
    qa_answers = generate(model, tokenizer, [q["question"] for q in qa], max_new_tokens=24, **gen_kwargs)
    world_acc = sum(exact_match(a, q["answer"]) or q["answer"].lower() in a.lower()
                    for a, q in zip(qa_answers, qa, strict=True)) / len(qa)
    report.metric("world_qa_accuracy", world_acc)

    # Perplexity on general text, and greedy vs sampled decoding judged by the constraints.
    report.metric("general_perplexity", perplexity(model, tokenizer, _general_texts(max(n, 8))))
    sampled = generate(model, tokenizer, [r["prompt"] for r in eval_rows], max_new_tokens=128, do_sample=True,
                       temperature=1.0, seed=seed, **gen_kwargs)
    judge_rows = {r["prompt"]: r["constraints"] for r in eval_rows}
    report.metric("greedy_vs_sampled", pairwise_win_rate(
        [r["prompt"] for r in eval_rows], greedy, sampled,
        judge=lambda prompt, response: instructions.check_all(response, judge_rows[prompt])["fraction_ok"]))

    # Generation throughput: the budget every notebook's evaluation relies on.
    prompts = [r["prompt"] for r in read_jsonl(repo_root() / "data" / "eval_general.jsonl")]
    prompts = (prompts * (THROUGHPUT_PROMPTS[profile.name] // len(prompts) + 1))[: THROUGHPUT_PROMPTS[profile.name]]
    _, stats = generate_with_stats(model, tokenizer, prompts, max_new_tokens=THROUGHPUT_NEW_TOKENS,
                                   min_new_tokens=THROUGHPUT_NEW_TOKENS, **gen_kwargs)
    report.metric("generation_throughput", stats.as_dict())

    report.claim("invented_people_unknown", "the pretrained model does not know facts about invented people",
                 observed=world_acc, expected="<= 0.05", holds=world_acc <= 0.05)
    report.claim("no_format_collapse_yet", "before any True/False training, general answers are rarely a bare label",
                 observed=report.metrics["general_label_share"], expected="<= 0.05",
                 holds=report.metrics["general_label_share"] <= 0.05)
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name()
        report.claim("generation_fast", f"{stats.prompts} prompts x {THROUGHPUT_NEW_TOKENS} new tokens in at "
                     f"most {H100_BUDGET_S:.0f} s on one H100", observed=round(stats.seconds, 2),
                     expected=f"<= {H100_BUDGET_S} s on H100/H200 ({gpu})", holds=stats.seconds <= H100_BUDGET_S,
                     enforced="H100" in gpu or "H200" in gpu)
    report.save()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.evals.baselines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--model", default="", help="alias, directory or hub id (default: the profile's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = run(args.profile, args.model, args.seed)
    report.enforce()
    return 0


if __name__ == "__main__":
    sys.exit(main())
