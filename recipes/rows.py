"""Training rows for the recipes: JSONL files (checked row by row, errors naming file and line) or the course's tasks.

A task (:mod:`helpers.synth`) both makes rows and grades answers, so the same name serves SFT (rows with a reference
answer), preference data (answers sampled from the starting model and ordered by the task's score, as notebooks
12-17 build it) and GRPO (the task's score is the reward). Every row gets an ``id`` when it has none
(``<file>:<line>`` or ``<task>-<seed>-<i>``): the recipes record which ids each process trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from helpers import preferences
from helpers.data import (
    DataFormatError,
    chat_to_prompt_completion,
    detect_format,
    prompt_completion_to_chat,
    read_jsonl,
)
from helpers.synth.arith import MathTask
from helpers.synth.instructions import InstructionTask
from helpers.synth.pycode import PythonTask
from helpers.synth.task import Task
from helpers.synth.truefalse import TrueFalseTask
from recipes.config import ConfigError

# task name -> (its class, the row field holding a reference answer, None when it has none)
TASKS: dict[str, tuple[Callable[..., Task], str | None]] = {
    "math": (MathTask, "solution"),
    "instructions": (InstructionTask, None),
    "true_false": (TrueFalseTask, "completion"),
    "code": (PythonTask, "reference"),
}


def make_task(name: str | None, args: Mapping[str, Any]) -> Task:
    """The task called ``name``, built with ``args`` (the class's own keyword arguments)."""
    if name not in TASKS:
        raise ConfigError(f"data.task must be one of {sorted(TASKS)}, got {name!r}")
    try:
        return TASKS[name][0](**args)
    except TypeError as err:
        raise ConfigError(f"data.task_args do not fit task {name!r}: {err}") from None


def _line_numbers(path: Path) -> list[int]:
    """The 1-based line of each row :func:`helpers.data.read_jsonl` returns (it skips blank lines)."""
    with path.open("rb") as handle:
        return [n for n, raw in enumerate(handle, start=1) if raw.decode("utf-8-sig", "replace").strip()]


def read_files(files: Sequence[str], formats: Sequence[str] | None) -> list[tuple[str, dict]]:
    """Rows of every file as ``(file:line, row)``; with ``formats``, each file must hold one of them (every row
    checked against it); without, any JSON objects (a grader's rows carry fields of their own)."""
    if isinstance(files, str):
        files = [files]
    located: list[tuple[str, dict]] = []
    for name in files:
        rows = read_jsonl(name, None if formats is None else "auto")
        if formats is not None and detect_format(rows[0]) not in formats:
            raise DataFormatError(f"{name}:1: holds {detect_format(rows[0])} rows; this recipe reads "
                                  f"{' or '.join(formats)} rows")
        located += [(f"{name}:{line}", row) for line, row in zip(_line_numbers(Path(name)), rows, strict=True)]
    return located


def _with_ids(located: list[tuple[str, dict]]) -> list[dict]:
    return [{**row, "id": row.get("id", where)} for where, row in located]


def _first(rows: list[dict], n: int | None) -> list[dict]:
    return rows if n is None else rows[:n]


def sft_rows(data: Mapping[str, Any], loss: str) -> list[dict]:
    """Chat or prompt/completion rows from ``data.files``, else a task's prompts with its reference answers; shaped
    for ``loss`` as notebook 05 does: prompt/completion for ``completion`` (the last answer trains), chat otherwise."""
    if data["files"]:
        rows = _first(_with_ids(read_files(data["files"], ("chat", "prompt_completion"))), data["n"])
    else:
        task = make_task(data["task"], data["task_args"])
        answer = TASKS[data["task"]][1]
        if answer is None:
            raise ConfigError(f"task {data['task']!r} has no reference answers to imitate: train it with the GRPO "
                             "recipe, or give data.files")
        rows = [{"id": row["id"], "messages": [{"role": "user", "content": row["prompt"]},
                                               {"role": "assistant", "content": str(row[answer])}]}
                for row in task.rows(data["n"], seed=data["seed"])]
    if loss == "completion":
        return [row if "prompt" in row else chat_to_prompt_completion(row) for row in rows]
    return [row if "messages" in row else prompt_completion_to_chat(row) for row in rows]


def preference_file_rows(data: Mapping[str, Any]) -> list[dict]:
    """Preference rows ``{prompt, chosen, rejected}`` from ``data.files``."""
    return _first(_with_ids(read_files(data["files"], ("preference",))), data["n"])


def sampled_pairs(model: Any, tokenizer: Any, data: Mapping[str, Any]) -> list[dict]:
    """Pairs from ``model``'s own answers to a task's prompts, ordered by the task's score (:mod:`helpers.preferences`,
    cached, so the other processes of a distributed run read what the first one sampled)."""
    task = make_task(data["task"], data["task_args"])
    built = preferences.build(model, tokenizer, task, n_train=data["n"], n_held_out=1, samples_train=data["samples"],
                              samples_held_out=1, max_new_tokens=data["max_new_tokens"], seed=data["seed"],
                              task_spec=dict(data["task_args"]))  # the one held-out prompt is unused here
    pairs = built.pairs("train", margin=data["margin"]).kept
    if not pairs:
        raise ConfigError(f"no pairs: every answer to the {data['n']} prompts tied within data.margin "
                         f"{data['margin']} (sample more answers, or lower the margin)")
    return [{**pair, "id": f"{task.name}-{data['seed']}-{pair['prompt_index']}-{i}"} for i, pair in enumerate(pairs)]


def graded_rows(data: Mapping[str, Any], task: Task) -> list[dict]:
    """Rows the task can grade: from ``data.files`` (each needs a ``prompt`` string and the fields the task's grader
    reads, checked by grading an empty answer) or made by the task."""
    if not data["files"]:
        return task.rows(data["n"], seed=data["seed"])
    located = read_files(data["files"], None)
    for where, row in located:
        if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            raise DataFormatError(f"{where}: needs a non-empty string 'prompt' for the {task.name} grader")
    rows = _with_ids(located)
    try:
        task.score_many(rows, [""] * len(rows))
    except (KeyError, TypeError, ValueError):
        for where, row in zip((w for w, _ in located), rows, strict=True):
            try:
                task.score(row, "")
            except (KeyError, TypeError, ValueError) as err:
                raise DataFormatError(f"{where}: the {task.name} grader cannot read this row "
                                      f"({type(err).__name__}: {err})") from None
        raise
    return _first(rows, data["n"])
