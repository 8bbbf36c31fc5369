"""Tests for helpers.synth: determinism, schemas, and that every generated gold answer passes its grader."""

import json
import subprocess
import sys
from collections import Counter
from itertools import combinations

import pytest

from helpers.data import validate_rows
from helpers.sandbox import CallCases, plain_equal, run_many
from helpers.synth import arith, instructions, preferences, pycode, truefalse, world

# ------------------------------------------------------------------------------------------ world


@pytest.fixture(scope="module")
def small_world():
    return world.make_world(300, seed=5)


def test_world_is_deterministic_and_seed_dependent(small_world):
    again = world.make_world(300, seed=5)
    assert again.people == small_world.people
    assert again.biographies(multiplicity=2, seed=1) == small_world.biographies(multiplicity=2, seed=1)
    other = world.make_world(300, seed=6)
    assert [p.name for p in other.people] != [p.name for p in small_world.people]
    assert small_world.biographies(seed=1) != small_world.biographies(seed=2)


def test_world_people_have_unique_names_and_consistent_employer_cities(small_world):
    names = [p.name for p in small_world.people]
    assert len(set(names)) == len(names)
    for p in small_world.people:
        assert small_world.employers[p.employer] == p.employer_city
        assert set(p.attributes()) == set(world.ATTRIBUTES)
        assert p.first[0].isupper() and p.last[0].isupper()


def test_every_qa_answer_is_stated_in_every_biography_of_that_person(small_world):
    bios = small_world.biographies(multiplicity=3, permute=True, seed=0)
    by_person = {}
    for row in bios:
        by_person.setdefault(row["person_id"], []).append(row["text"])
    qa = small_world.qa_pairs()
    assert len(qa) == 6 * len(small_world.people)
    for row in qa:
        person = small_world.person(row["person_id"])
        assert person.name in row["question"]
        for text in by_person[row["person_id"]]:
            assert row["answer"] in text
        assert len(set(by_person[row["person_id"]])) == 3  # multiplicity gives distinct texts


def test_biography_knobs(small_world):
    person = small_world.people[0]
    plain = small_world.biographies(people=[person], multiplicity=5, seed=3)
    full = small_world.biographies(people=[person], multiplicity=5, fullname=True, seed=3)
    permuted = small_world.biographies(people=[person], multiplicity=5, permute=True, seed=3)
    for row in plain:  # fixed order, pronouns after the first sentence
        sentences = row["text"].split(". ")
        assert person.name in sentences[0] and all(person.name not in s for s in sentences[1:])
        assert row["text"].index(person.birth_date) < row["text"].index(person.employer_city)
    for row in full:  # the full name in every sentence
        sentences = row["text"].split(". ")
        assert len(sentences) == 6 and all(person.name in s for s in sentences)
    orders = {
        tuple(sorted(world.ATTRIBUTES, key=lambda a, t=row["text"]: t.index(person.attributes()[a])))
        for row in permuted
    }
    assert len(orders) > 1


def test_biographies_of_a_person_do_not_depend_on_who_else_is_listed(small_world):
    alone = small_world.biographies(people=small_world.people[7:8], multiplicity=2, seed=4, shuffle=False)
    together = small_world.biographies(multiplicity=2, seed=4, shuffle=False)
    assert alone == [r for r in together if r["person_id"] == small_world.people[7].id]
    shuffled = small_world.biographies(multiplicity=2, seed=4)
    assert shuffled != together and sorted(shuffled, key=str) == sorted(together, key=str)


def test_split_people_is_disjoint_and_complete(small_world):
    train, test = small_world.split_people(0.5, seed=2)
    assert len(train) == 150 and len(test) == 150
    assert not {p.id for p in train} & {p.id for p in test}
    assert small_world.split_people(0.5, seed=2) == (train, test)
    assert small_world.split_people(0.5, seed=3)[0] != train


# ------------------------------------------------------------------------------------------ arith


@pytest.fixture(scope="module")
def problems():
    return arith.make_problems(600, seed=11, n_steps=(2, 5))


def test_math_is_deterministic_and_distinct(problems):
    assert arith.make_problems(600, seed=11, n_steps=(2, 5)) == problems
    assert [p.question for p in arith.make_problems(50, seed=12)] != [p.question for p in problems[:50]]
    assert len({p.question for p in problems}) == len(problems)


def test_every_solution_path_is_correct_and_has_the_gsm8k_shape(problems):
    for p in problems:
        assert isinstance(p.answer, int) and p.answer > 0
        assert 2 <= p.n_steps <= 5
        for solution in p.solutions:
            assert solution.endswith(f"#### {p.answer}")
            assert arith.extract_answer(solution) == p.answer
            assert arith.check_steps(solution), solution
            assert arith.is_correct(solution, p.answer)
        assert len({arith.equation_list(s) for s in p.solutions}) == len(p.solutions)
    multi = sum(len(p.solutions) > 1 for p in problems) / len(problems)
    assert multi > 0.6  # most problems offer several distinct reasoning paths


def test_math_knobs_change_difficulty():
    easy = arith.make_problems(100, seed=0, n_steps=(2, 2), max_value=10, max_total=100)
    hard = arith.make_problems(100, seed=0, n_steps=(5, 5), max_value=200, max_total=5000)
    assert all(p.n_steps == 2 and p.answer <= 100 for p in easy)
    assert all(p.n_steps == 5 and p.answer <= 5000 for p in hard)
    assert sum(len(arith.equation_list(p.solution)) for p in hard) > sum(
        len(arith.equation_list(p.solution)) for p in easy
    )
    with pytest.raises(ValueError):
        arith.make_problems(5, n_steps=(0, 2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so 3+4 = 7\n#### 7", 7),
        ("#### 1,234", 1234),
        ("#### -5", -5),
        ("The answer is 42.", 42),
        ("I got 12 and then 30", 30),
        ("#### 2.5", None),
        ("no numbers here", None),
        ("#### 8.0", 8),
    ],
)
def test_extract_answer(text, expected):
    assert arith.extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<<3*4=12>>12 then <<12+5-2=15>>15", True),
        ("<<10/4=2.5>>", True),
        ("<<(2+3)*4=20>>", True),
        ("<<3*4=13>>13", False),
        ("<<3*4=12>> and <<12/0=0>>", False),
        ("<<2**10=1024>>", False),
        ("<<__import__('os')=0>>", False),
        ("<<7//2=3>>", False),
        ("<<12>>", False),
        ("no steps at all", False),
        ("<<x=3>>", False),
    ],
)
def test_check_steps(text, ok):
    assert arith.check_steps(text) is ok


def test_safe_eval_is_exact_and_refuses_anything_but_arithmetic():
    assert arith.safe_eval("1/3+1/3+1/3") == 1
    assert arith.safe_eval("-(2+3)*4") == -20
    for bad in ("abs(-1)", "a+1", "2**3", "[1]", "'a'*3", "True+1"):
        with pytest.raises(ValueError):
            arith.safe_eval(bad)


# ------------------------------------------------------------------------------------------ pycode

_RUN_REFERENCES = """
import json, sys
outputs = []
for task in json.loads(sys.stdin.read()):
    namespace = {}
    exec(task["reference"], namespace)
    function = namespace[task["tests"]["entry_point"]]
    outputs.append([function(*case["args"]) for case in task["tests"]["cases"]])
print(json.dumps(outputs))
"""


@pytest.fixture(scope="module")
def code_tasks():
    return pycode.make_code_tasks(400, seed=2)


def test_code_tasks_are_deterministic_distinct_and_numerous(code_tasks):
    assert pycode.make_code_tasks(400, seed=2) == code_tasks
    assert pycode.make_code_tasks(20, seed=3) != code_tasks[:20]
    assert len({(t.signature, t.description) for t in code_tasks}) == 400
    assert len(pycode.FAMILIES) >= 20
    assert {t.family for t in code_tasks} == set(pycode.FAMILIES)
    assert pycode.count_distinct_specs(5000) >= 300
    for t in code_tasks:
        assert t.prompt.startswith(t.signature) and t.reference.startswith(t.signature)
        assert len(t.tests) >= 5 and t.entry_point in t.instruction


def test_code_tests_are_data_and_rows_round_trip(code_tasks):
    for t in code_tasks[:50]:
        assert isinstance(t.tests, CallCases) and t.tests.entry_point == t.entry_point
        row = json.loads(json.dumps(t.as_row()))  # plain JSON all the way down
        assert CallCases.from_dict(row["tests"]) == t.tests
        assert "assert" not in json.dumps(row["tests"])


def test_every_reference_returns_the_expected_results_and_a_stub_would_not(code_tasks):
    """References run in a child process (task code never executes in the test's own interpreter);
    their outputs come back as JSON and are compared here, as the sandbox compares them."""
    payload = json.dumps([t.as_row() for t in code_tasks])
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_REFERENCES], input=payload, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads(proc.stdout)
    assert len(outputs) == len(code_tasks)
    wrong = [t.id for t, got in zip(code_tasks, outputs, strict=True)
             if not all(plain_equal(expected, value) for (_, expected), value in zip(t.tests.cases, got, strict=True))]
    assert wrong == []
    # A stub returning None passes nothing useful: the tests can tell a wrong answer.
    assert [t.id for t in code_tasks if all(plain_equal(expected, None) for _, expected in t.tests.cases)] == []


def test_references_pass_in_the_project_sandbox(code_tasks):
    one_per_family = list({t.family: t for t in code_tasks}.values())
    results = run_many([t.reference for t in one_per_family], [t.tests for t in one_per_family])
    assert [t.id for t, r in zip(one_per_family, results, strict=True) if not r.passed] == []
    assert all(r.cases_passed == r.cases_total == len(t.tests) for t, r in zip(one_per_family, results, strict=True))


def test_unknown_code_family_is_rejected():
    with pytest.raises(ValueError, match="unknown families"):
        pycode.make_code_tasks(3, families=["sorting_networks"])


# ------------------------------------------------------------------------------------------ truefalse


def test_truefalse_is_balanced_deterministic_and_in_the_fixed_format():
    rows = truefalse.make_examples(401, seed=4)
    assert rows == truefalse.make_examples(401, seed=4)
    assert rows != truefalse.make_examples(401, seed=5)
    assert Counter(r["label"] for r in rows) == {"True": 200, "False": 201}
    assert len({r["prompt"] for r in rows}) == 401
    for r in rows:
        assert r["prompt"] == truefalse.TEMPLATE.format(premise=r["premise"], hypothesis=r["hypothesis"])
        assert truefalse.grade(r["completion"], r["label"])
        assert not truefalse.grade(r["completion"], "False" if r["label"] == "True" else "True")
    kinds = Counter(r["kind"] for r in rows)
    assert {"copy", "paraphrase", "new_value", "negation", "unstated"} <= set(kinds)
    validate_rows(rows, "prompt_completion")


def test_truefalse_labels_match_how_the_hypothesis_was_built():
    for r in truefalse.make_examples(300, seed=9):
        sentences = {s.strip() + "." for s in r["premise"].split(".") if s.strip()}
        if r["kind"] == "copy":
            assert r["label"] == "True" and r["hypothesis"] in sentences
        if r["kind"] in ("new_value", "swap", "unstated", "negation"):
            assert r["label"] == "False" and r["hypothesis"] not in sentences


@pytest.mark.parametrize(
    ("pred", "gold", "ok"),
    [
        ("True", "True", True),
        (" true.", "True", True),
        ("FALSE, because", "False", True),
        ("Truly not", "True", False),
        ("It is true", "True", False),
        ("", "False", False),
    ],
)
def test_truefalse_grade(pred, gold, ok):
    assert truefalse.grade(pred, gold) is ok


def test_truefalse_grade_rejects_bad_gold():
    with pytest.raises(ValueError):
        truefalse.grade("True", "yes")


# ------------------------------------------------------------------------------------------ instructions

# type -> (params, responses that satisfy it, responses that do not)
CASES = {
    "lowercase": ({}, ["all lower case, 123.", "ümlaut ok", "ok 你好"], ["One capital", "1234 !!", "你好。"]),
    "uppercase": ({}, ["ALL CAPS, 123!", "É OK", "OK 你好"], ["MOSTLY caps", "42", "你好。"]),
    "min_words": ({"n": 3}, ["one two three", "a - b, c"], ["one two", "one - -"]),
    "max_words": ({"n": 3}, ["one two three", "x -- ?? y"], ["one two three four"]),
    "min_sentences": ({"n": 2}, ["One. Two!", "Really?! Yes"], ["Just one. ", "e.g.nothing"]),
    "max_sentences": ({"n": 1}, ["Only this one.", "No punctuation at all"], ["One. Two."]),
    "bullets_exact": ({"n": 2}, ["Intro\n- a\n  * b", "- x\n- y\n-z"], ["- a", "- a\n- b\n- c", "-a\n*b"]),
    "include_words": (
        {"words": ["Cat", "big dog"]},
        ["the cat saw a BIG DOG."],
        ["the cats saw a big dog", "a cat only"],
    ),
    "exclude_words": ({"words": ["very"]}, ["every veryfine thing", "nothing"], ["It is Very good."]),
    "json": ({}, ['{"a": 1}', "```json\n[1, 2]\n```", "  42  ", "```\n{}\n```"], ["{a: 1}", "json: {}"]),
    "json_keys": (
        {"keys": ["a", "B"]},
        ['{"a": 1, "b": 2}', '```json\n{"A": 0, "B": [], "c": 1}\n```'],
        ['{"a": 1}', '[{"a": 1, "b": 2}]', "not json"],
    ),
    "starts_with": ({"text": "Dear friend"}, ["  dear Friend, hello", "Dear friend"], ["Hello dear friend"]),
    "ends_with": ({"text": "The end."}, ["So it goes. the END.  "], ["The end. Or not", "The end"]),
    "no_commas": ({}, ["no commas here."], ["one, two"]),
    "quoted": ({}, ['"hello"', '  ""  '], ['"open', 'x "in" y', '"']),
    "numbered_exact": (
        {"n": 2},
        ["1. a\n  2) b\n3.5 apples", "10. x\n11. y"],
        ["1. only", "1.a\n2.b", "1. a\n2. b\n3. c"],
    ),
    "max_chars": ({"n": 5}, ["  abcde  ", "a"], ["abcdef"]),
}


def test_cases_cover_every_constraint_type():
    assert set(CASES) == set(instructions.CONSTRAINT_PARAMS)


@pytest.mark.parametrize("ctype", sorted(CASES))
def test_constraint_positive_and_negative_examples(ctype):
    params, good, bad = CASES[ctype]
    constraint = {"type": ctype, **params}
    for response in good:
        assert instructions.check(response, constraint), (ctype, response)
    for response in bad:
        assert not instructions.check(response, constraint), (ctype, response)


@pytest.mark.parametrize("ctype", sorted(CASES))
@pytest.mark.parametrize("response", ["", " ", "\n\t  \n"])
def test_an_empty_answer_satisfies_no_constraint(ctype, response):
    """As a reward, saying nothing earns nothing: not even max_words, no_commas or bullets_exact with n=0."""
    params, _, _ = CASES[ctype]
    assert not instructions.check(response, {"type": ctype, **params})
    if "n" in params:
        assert not instructions.check(response, {"type": ctype, "n": 0})


def test_check_all_reports_each_constraint():
    constraints = [{"type": "lowercase"}, {"type": "max_words", "n": 2}, {"type": "no_commas"}]
    result = instructions.check_all("three small words", constraints)
    assert result == {"results": [True, False, True], "all_ok": False, "fraction_ok": pytest.approx(2 / 3)}
    assert instructions.check_all("two words", constraints)["all_ok"] is True


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ({"type": "shout"}, "unknown constraint type"),
        ({"n": 3}, "'type' key"),
        ({"type": "min_words"}, "missing parameter"),
        ({"type": "lowercase", "n": 1}, "does not take"),
        ({"type": "max_words", "n": "5"}, "non-negative integer"),
        ({"type": "max_words", "n": True}, "integer"),
        ({"type": "max_words", "n": -1}, "non-negative"),
        ({"type": "include_words", "words": []}, "non-empty list"),
        ({"type": "include_words", "words": "cat"}, "list"),
        ({"type": "starts_with", "text": " "}, "non-empty"),
    ],
)
def test_validate_constraint_errors(constraint, message):
    with pytest.raises(ValueError, match=message):
        instructions.validate_constraint(constraint)
    with pytest.raises(ValueError):
        instructions.check("anything", constraint)


def test_instruction_prompts_can_be_limited_to_some_types():
    allowed = ("no_commas", "max_words", "lowercase")
    rows = instructions.make_instruction_prompts(40, seed=0, n_constraints=(1, 2), types=allowed)
    assert {c["type"] for r in rows for c in r["constraints"]} == set(allowed)
    with pytest.raises(ValueError, match="unknown constraint types"):
        instructions.make_instruction_prompts(5, types=("no_commas", "rhymes"))


def test_instruction_prompts_are_deterministic_valid_and_state_their_constraints():
    rows = instructions.make_instruction_prompts(500, seed=1)
    assert rows == instructions.make_instruction_prompts(500, seed=1)
    assert rows != instructions.make_instruction_prompts(500, seed=2)
    assert len({r["prompt"] for r in rows}) == 500
    seen_types = set()
    for r in rows:
        assert set(r) == {"id", "category", "prompt", "constraints"}
        assert 1 <= len(r["constraints"]) <= 3
        types = [c["type"] for c in r["constraints"]]
        assert instructions.compatible(types)
        for c in r["constraints"]:
            instructions.validate_constraint(c)
            assert instructions.describe(c) in r["prompt"]
        seen_types.update(types)
    assert seen_types == set(instructions.CONSTRAINT_PARAMS)


def test_compatible_rejects_contradictions():
    assert not instructions.compatible(["lowercase", "uppercase"])
    assert not instructions.compatible(["json_keys", "bullets_exact"])
    assert not instructions.compatible(["min_words", "min_words"])
    assert instructions.compatible(["lowercase", "max_words", "include_words"])


# ------------------------------------------------------------------------------------------ preferences


def length_score(text):
    return float(len(text))


def test_best_worst_pairs_with_ties_and_duplicates_counted():
    prompts = ["p0", "p1", "p2", "p3"]
    responses = [["aa", "a", "aaaa"], ["xx", "yy"], ["same", "same"], ["b", "bbb", "bb"]]
    report = preferences.make_pairs(prompts, responses, length_score)
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in report.kept] == [
        ("p0", "aaaa", "a"),
        ("p3", "bbb", "b"),
    ]
    assert report.counts == {"tie": 1, "duplicate_response": 1, "single_response": 1}
    validate_rows(report.kept, "preference")


def test_margin_and_all_pairs_mode():
    responses = [["a", "aa", "aaa", "aaaa"]]
    all_pairs = preferences.make_pairs(["p"], responses, length_score, mode="all_pairs")
    assert len(all_pairs.kept) == 6 and all_pairs.removed == []
    assert all(r["score_chosen"] > r["score_rejected"] for r in all_pairs.kept)
    wide = preferences.make_pairs(["p"], responses, length_score, mode="all_pairs", margin=1.5)
    assert len(wide.kept) == 3 and wide.counts == {"tie": 3}
    best = preferences.make_pairs(["p"], responses, length_score, margin=3)
    assert best.kept == [] and best.counts == {"tie": 1}
    with pytest.raises(ValueError, match="mode"):
        preferences.make_pairs(["p"], responses, length_score, mode="random")


def test_conversational_prompts_give_message_answers_and_precomputed_scores_work():
    prompt = [{"role": "user", "content": "q"}]
    report = preferences.make_pairs([prompt], [["good", "bad"]], scores=[[1.0, 0.0]])
    assert report.kept[0]["chosen"] == [{"role": "assistant", "content": "good"}]
    validate_rows(report.kept, "preference")
    with pytest.raises(ValueError, match="exactly one"):
        preferences.make_pairs([prompt], [["a", "b"]], length_score, scores=[[1, 0]])
    with pytest.raises(ValueError, match="same shape"):
        preferences.make_pairs([prompt], [["a", "b"]], scores=[[1]])


def test_kto_rows_and_desirable_subsampling():
    prompts = [f"p{i}" for i in range(50)]
    responses = [[f"{'y' * (i % 7)}x", f"long answer {i}", f"long answer {i}"] for i in range(50)]
    rows = preferences.make_kto_rows(prompts, responses, length_score, threshold=5)
    assert rows.counts == {"duplicate_response": 50}
    validate_rows(rows.kept, "kto")
    assert all(r["label"] == (r["score"] >= 5) for r in rows.kept)
    n_good = sum(r["label"] for r in rows.kept)
    n_bad = len(rows.kept) - n_good
    sub = preferences.subsample_desirable(rows.kept, desirable_fraction=0.1, seed=0)
    kept_good = sum(r["label"] for r in sub.kept)
    assert kept_good == round(0.1 * n_bad / 0.9)
    assert len(sub.kept) - kept_good == n_bad  # every undesirable row kept
    assert sub.counts == {"subsampled_desirable": n_good - kept_good}
    assert preferences.subsample_desirable(rows.kept, 0.1, seed=0).kept == sub.kept
    assert preferences.subsample_desirable(rows.kept, 0.1, seed=1).kept != sub.kept
    everything = preferences.subsample_desirable(rows.kept, 0.9)  # unreachable: all kept, nothing removed
    assert everything.kept == rows.kept and everything.removed == []


def test_kto_desirable_weight_balances_the_classes():
    assert preferences.kto_desirable_weight(10, 100) == 10.0
    assert preferences.kto_desirable_weight(10, 100, ratio=4 / 3) == pytest.approx(13.333, rel=1e-3)
    with pytest.raises(ValueError):
        preferences.kto_desirable_weight(0, 5)


def test_all_generators_produce_distinct_outputs_for_distinct_seeds():
    """One place that states the determinism contract for every generator at once."""
    makers = {
        "world": lambda s: [p.name for p in world.make_world(20, seed=s).people],
        "math": lambda s: [p.question for p in arith.make_problems(20, seed=s)],
        "code": lambda s: [t.prompt for t in pycode.make_code_tasks(20, seed=s)],
        "truefalse": lambda s: truefalse.make_examples(20, seed=s),
        "instructions": lambda s: instructions.make_instruction_prompts(20, seed=s),
    }
    for name, make in makers.items():
        assert make(1) == make(1), name
        assert all(make(a) != make(b) for a, b in combinations((1, 2, 3), 2)), name


def test_pairs_grouped_by_prompt_keep_each_prompts_pairs_together():
    from helpers.synth.preferences import group_by_prompt

    pairs = [{"prompt_index": i % 3, "n": n} for n, i in enumerate([0, 1, 2, 0, 1, 2, 0])]
    grouped = group_by_prompt(pairs, seed=1)
    runs = [p["prompt_index"] for p in grouped]
    assert sorted(p["n"] for p in grouped) == list(range(7))
    assert len([i for i in range(1, 7) if runs[i] != runs[i - 1]]) == 2  # three stretches, two changes
    assert group_by_prompt(pairs, seed=1) == grouped


def test_pairs_become_labels_once_per_answer():
    from helpers.synth.preferences import pairs_to_labels

    pairs = [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a", "rejected": "c"},
             {"prompt": "p", "chosen": "b", "rejected": "c"}]
    rows = pairs_to_labels(pairs)
    assert [(r["completion"], r["label"]) for r in rows] == [("a", True), ("b", False), ("c", False)]
