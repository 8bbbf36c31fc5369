"""Checks on the datasets shipped in data/: structure, sizes, correctness and reproducibility.

These files are the general-domain data of several notebooks (SFT replay, DMT mixing, data cleaning,
instruction-following evaluation), so a malformed row, a wrong sum, a planted defect that is not where
the manifest says, or a drifted build would silently corrupt a measurement downstream.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from helpers.data import read_jsonl
from helpers.sandbox import run_many
from helpers.synth import instructions

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
BUILD = DATA / "build"
GENERAL = DATA / "general_instructions.jsonl"
RAW = DATA / "raw_dump.jsonl"
MANIFEST = DATA / "raw_dump_manifest.json"
EVAL = DATA / "eval_general.jsonl"

DEFECT_CLASSES = {
    "exact_duplicate",
    "near_duplicate",
    "empty_field",
    "garbled",
    "wrong_language",
    "pii",
    "wrong_answer",
    "truncated",
    "prompt_injection",
}
# For parameterless types: a word the prompt must use to tell the model about the constraint.
CONSTRAINT_CUES = {
    "lowercase": ("lowercase",),
    "uppercase": ("capital", "uppercase"),
    "json": ("json",),
    "no_commas": ("comma",),
    "quoted": ("quot",),
}


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def general() -> list[dict]:
    return read_jsonl(GENERAL, "chat")


@pytest.fixture(scope="module")
def raw() -> list[dict]:
    return read_jsonl(RAW)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def evals() -> list[dict]:
    return read_jsonl(EVAL)


# ---------------------------------------------------------------------------------------------------
# Arithmetic checking: every "a op b ... = c" statement must be true.
# ---------------------------------------------------------------------------------------------------

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_EQUATION = re.compile(
    rf"(?<![\w.])((?:{_NUMBER}\s*[-+×÷*/]\s*)+{_NUMBER})\s*=\s*({_NUMBER}(?:/\d+)?)(?![\d/])"
)


def _evaluate(expression: str) -> Fraction:
    """Exact value of an expression made only of numbers and + - × ÷ * / (validated by the regex)."""
    python = expression.replace("×", "*").replace("÷", "/")
    python = re.sub(_NUMBER, lambda m: f"Fraction('{m.group(0).replace(',', '')}')", python)
    # Safe to eval: the regex admitted only digits, separators and operators, and no builtins are exposed.
    return eval(python, {"__builtins__": {}, "Fraction": Fraction})


def wrong_equations(text: str) -> list[str]:
    """Equations in ``text`` whose right-hand side differs from the value of the left-hand side."""
    wrong = []
    for match in _EQUATION.finditer(text):
        expected = _evaluate(match.group(1))
        stated = Fraction(match.group(2).replace(",", ""))
        if expected != stated:
            wrong.append(match.group(0))
    return wrong


def test_equation_checker_catches_errors():
    assert wrong_equations("So 24 × 60 × 60 = 86400 and 1/4 + 2/3 = 11/12.") == []
    assert wrong_equations("Thus 2,400 × 0.15 = 360.") == []
    assert wrong_equations("Clearly 7 × 8 = 54.") == ["7 × 8 = 54"]
    assert wrong_equations("6 + 4 × 3 = 30") == ["6 + 4 × 3 = 30"]


# ---------------------------------------------------------------------------------------------------
# General instruction set
# ---------------------------------------------------------------------------------------------------


def test_general_ids_and_size(general):
    ids = [row["id"] for row in general]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert all(re.fullmatch(r"gen-\d{4}", row_id) for row_id in ids)
    assert len(general) >= 420
    counts = Counter(row["category"] for row in general)
    assert len(counts) >= 12
    assert min(counts.values()) >= 25, counts
    assert counts["multi_turn"] >= 30
    assert counts["refusal"] >= 25


def test_general_chat_structure(general):
    for row in general:
        messages = row["messages"]
        roles = [message["role"] for message in messages]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles, row["id"]
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages), row["id"]
        assert set(row) == {"id", "category", "messages"}, row["id"]
        user_turns = len(roles) // 2
        if row["category"] == "multi_turn":
            assert 2 <= user_turns <= 4, row["id"]
        else:
            assert user_turns == 1, row["id"]


def test_general_prompts_are_unique_and_varied(general):
    prompts = [normalise(row["messages"][0]["content"]) for row in general]
    repeated = [p for p, n in Counter(prompts).items() if n > 1]
    assert not repeated, repeated
    # Not homogeneous: no single opening word starts more than a sixth of the prompts.
    openings = Counter(p.split()[0] for p in prompts)
    assert openings.most_common(1)[0][1] <= len(prompts) / 6, openings.most_common(3)


def test_general_answers_are_concise(general):
    answers = [m["content"] for row in general for m in row["messages"] if m["role"] == "assistant"]
    lengths = [len(answer.split()) for answer in answers]
    assert max(lengths) <= 200
    assert 25 <= sum(lengths) / len(lengths) <= 110


def test_general_arithmetic_is_correct(general):
    checked = 0
    for row in general:
        for message in row["messages"]:
            if message["role"] == "assistant":
                assert wrong_equations(message["content"]) == [], row["id"]
                checked += len(_EQUATION.findall(message["content"]))
    assert checked >= 40, "the arithmetic check matched too few equations to mean anything"


def test_general_python_code_runs(general):
    """Every ```python block in coding answers runs (with its own asserts) in a fresh namespace."""
    blocks = []
    for row in general:
        if row["category"] in {"coding_help", "multi_turn"}:
            for message in row["messages"]:
                if message["role"] == "assistant":
                    found = re.findall(r"```python\n(.*?)```", message["content"], re.DOTALL)
                    blocks += [(row["id"], code) for code in found]
    assert len(blocks) >= 25
    # The project sandbox, as for model-written code: it must run ordinary code without a false alarm.
    results = run_many([code for _, code in blocks], ["pass"] * len(blocks), timeout_s=10)
    assert [(row_id, r.stderr[-300:]) for (row_id, _), r in zip(blocks, results, strict=True) if not r.passed] == []


def test_general_build_is_reproducible(tmp_path):
    out = tmp_path / "general.jsonl"
    subprocess.run(
        [sys.executable, str(BUILD / "build_general.py"), "--out", str(out)],
        check=True, capture_output=True, timeout=60,
    )
    assert out.read_bytes() == GENERAL.read_bytes()


# ---------------------------------------------------------------------------------------------------
# Raw dump and its manifest
# ---------------------------------------------------------------------------------------------------


def test_raw_dump_rows(raw):
    assert len(raw) >= 600
    ids = [row["id"] for row in raw]
    assert len(ids) == len(set(ids))
    for row in raw:
        assert set(row) == {"id", "instruction", "input", "output"}, row["id"]
        assert all(isinstance(row[key], str) for key in ("instruction", "input", "output")), row["id"]


def test_manifest_covers_every_row_and_class(raw, manifest):
    ids = {row["id"] for row in raw}
    defect_ids = [entry["id"] for entry in manifest["defects"]]
    clean = manifest["clean_ids"]
    assert len(defect_ids) == len(set(defect_ids))
    assert set(defect_ids) | set(clean) == ids, "manifest ids must be exactly the dump's ids"
    assert not set(defect_ids) & set(clean)
    counts = Counter(name for entry in manifest["defects"] for name in entry["classes"])
    assert set(counts) == DEFECT_CLASSES
    assert min(counts.values()) >= 20, counts
    assert manifest["counts"] == {"clean": len(clean), **{name: counts[name] for name in counts}}
    assert len(clean) >= 250
    assert manifest["n_clean_source_rows"] >= 350


def content(row: dict) -> tuple[str, str, str]:
    return (row["instruction"], row["input"], row["output"])


def test_duplicates_point_at_earlier_clean_originals(raw, manifest):
    by_id = {row["id"]: row for row in raw}
    position = {row["id"]: index for index, row in enumerate(raw)}
    clean = set(manifest["clean_ids"])
    for entry in manifest["defects"]:
        if "exact_duplicate" in entry["classes"] or "near_duplicate" in entry["classes"]:
            original = entry["original"]
            assert original in clean and position[original] < position[entry["id"]], entry
            copy, source = content(by_id[entry["id"]]), content(by_id[original])
            if "exact_duplicate" in entry["classes"]:
                assert copy == source, entry
            else:
                assert copy != source, entry
                # Small edits only: casing aside, the copy is almost the same text as its original.
                a, b = normalise(" ".join(copy)), normalise(" ".join(source))
                ratio = difflib.SequenceMatcher(None, a, b).ratio()
                assert ratio >= 0.85, (entry, ratio)
    clean_content = Counter(content(by_id[row_id]) for row_id in clean)
    assert max(clean_content.values()) == 1, "two clean rows are identical"


def test_planted_defects_are_where_the_manifest_says(raw, manifest):
    by_id = {row["id"]: row for row in raw}
    for entry in manifest["defects"]:
        row, classes = by_id[entry["id"]], entry["classes"]
        if "empty_field" in classes:
            assert not row[entry["field"]].strip(), entry
        if "pii" in classes:
            assert entry["planted"] and all(p["value"] in row[p["field"]] for p in entry["planted"]), entry
        if "prompt_injection" in classes:
            assert entry["text"] in row[entry["field"]], entry
        if "truncated" in classes:
            assert row["output"].strip() and row["output"].rstrip()[-1] not in ".!?", entry
        if "wrong_answer" in classes:
            assert entry["given"] in row["output"] and entry["expected"] != entry["given"], entry
            if _EQUATION.search(row["output"]):
                assert wrong_equations(row["output"]), entry
        if "garbled" in classes:
            assert entry["kind"] in {"mojibake", "html", "char_soup"}, entry
            if entry["kind"] == "mojibake":
                assert "â€" in row["instruction"] + row["output"], entry
            if entry["kind"] == "html":
                assert re.search(r"</?\w+[^>]*>", row["output"]), entry
        if "wrong_language" in classes:
            assert entry["language"] != "en", entry


def test_clean_raw_rows_are_correct(raw, manifest):
    by_id = {row["id"]: row for row in raw}
    for row_id in manifest["clean_ids"]:
        row = by_id[row_id]
        assert row["instruction"].strip() and row["output"].strip(), row_id
        assert wrong_equations(row["output"]) == [], row_id
        assert "ignore" not in row["instruction"].lower(), row_id
        assert "@example." not in row["input"] + row["output"], row_id


def test_raw_dump_is_reproducible(tmp_path):
    subprocess.run(
        [sys.executable, str(BUILD / "make_raw_dump.py"), "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=60,
    )
    assert (tmp_path / RAW.name).read_bytes() == RAW.read_bytes()
    assert (tmp_path / MANIFEST.name).read_bytes() == MANIFEST.read_bytes()


def test_raw_dump_depends_on_seed(tmp_path):
    subprocess.run(
        [sys.executable, str(BUILD / "make_raw_dump.py"), "--seed", "7", "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=60,
    )
    assert (tmp_path / RAW.name).read_bytes() != RAW.read_bytes()


# ---------------------------------------------------------------------------------------------------
# Evaluation prompts
# ---------------------------------------------------------------------------------------------------


def test_eval_rows_and_schema(evals):
    assert len(evals) >= 160
    ids = [row["id"] for row in evals]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"eval-\d{4}", i) for i in ids)
    for row in evals:
        assert set(row) == {"id", "category", "prompt", "constraints"}, row["id"]
        assert row["prompt"].strip() and row["category"].strip(), row["id"]
        assert 1 <= len(row["constraints"]) <= 3, row["id"]
        for constraint in row["constraints"]:
            instructions.validate_constraint(constraint)  # raises, naming the problem
        assert instructions.compatible([c["type"] for c in row["constraints"]]), row["id"]
        types = [c["type"] for c in row["constraints"]]
        assert len(types) == len(set(types)), row["id"]
    counts = Counter(c["type"] for row in evals for c in row["constraints"])
    assert set(counts) == set(instructions.CONSTRAINT_PARAMS)
    assert min(counts.values()) >= 8, counts


def test_eval_prompts_state_their_constraints(evals):
    for row in evals:
        prompt = row["prompt"].lower()
        for constraint in row["constraints"]:
            ctype = constraint["type"]
            if "n" in constraint:
                spelled = NUMBER_WORDS.get(constraint["n"], str(constraint["n"]))
                assert re.search(rf"\b({constraint['n']}|{spelled})\b", prompt), (row["id"], constraint)
            for word in constraint.get("words", []) + constraint.get("keys", []):
                assert word.lower() in prompt, (row["id"], constraint)
            if "text" in constraint:
                assert constraint["text"].lower() in prompt, (row["id"], constraint)
            if ctype in CONSTRAINT_CUES:
                assert any(cue in prompt for cue in CONSTRAINT_CUES[ctype]), (row["id"], constraint)
            if ctype == "bullets_exact":
                assert "bullet" in prompt, row["id"]
            if ctype == "numbered_exact":
                assert "numbered" in prompt, row["id"]


def test_eval_constraints_are_compatible(evals):
    """Value-level checks that each prompt's constraints can hold together in one short answer."""
    for row in evals:
        by_type = {c["type"]: c for c in row["constraints"]}
        types = set(by_type)
        assert not {"lowercase", "uppercase"} <= types, row["id"]
        assert not ({"json", "json_keys"} & types and types & {"bullets_exact", "numbered_exact"}), row["id"]
        if "json_keys" in types and "no_commas" in types:
            assert len(by_type["json_keys"]["keys"]) == 1, row["id"]
        if {"min_words", "max_words"} <= types:
            assert by_type["min_words"]["n"] <= by_type["max_words"]["n"], row["id"]
        if {"min_sentences", "max_sentences"} <= types:
            assert by_type["min_sentences"]["n"] <= by_type["max_sentences"]["n"], row["id"]
        if "max_chars" in types:
            needed = 2 * by_type.get("min_words", {"n": 0})["n"]
            needed += sum(len(w) + 1 for w in by_type.get("include_words", {"words": []})["words"])
            assert needed <= by_type["max_chars"]["n"], row["id"]
        if "max_words" in types:
            required = len(by_type.get("include_words", {"words": []})["words"])
            required += 3 * by_type.get("min_sentences", {"n": 0})["n"]
            assert required <= by_type["max_words"]["n"], row["id"]
        if "include_words" in types and "exclude_words" in types:
            assert not set(by_type["include_words"]["words"]) & set(by_type["exclude_words"]["words"])
        if "no_commas" in types:
            required_text = [c.get("text", "") for c in row["constraints"]] + by_type.get(
                "include_words", {"words": []}
            )["words"]
            assert not any("," in text for text in required_text), row["id"]
        if "exclude_words" in types:
            banned = {w.lower() for w in by_type["exclude_words"]["words"]}
            for key in ("starts_with", "ends_with"):
                if key in types:
                    assert not banned & set(re.findall(r"\w+", by_type[key]["text"].lower())), row["id"]



# ---------------------------------------------------------------------------------------------------
# Across files
# ---------------------------------------------------------------------------------------------------


def test_no_prompt_overlap_between_files(general, raw, manifest, evals):
    by_id = {row["id"]: row for row in raw}
    general_prompts = {normalise(row["messages"][0]["content"]) for row in general}
    raw_prompts = set()
    for row_id in manifest["clean_ids"]:
        row = by_id[row_id]
        raw_prompts.add(normalise(row["instruction"]))
        raw_prompts.add(normalise(f"{row['instruction']} {row['input']}"))
    eval_prompts = {normalise(row["prompt"]) for row in evals}
    assert not general_prompts & raw_prompts
    assert not general_prompts & eval_prompts
    assert not raw_prompts & eval_prompts
