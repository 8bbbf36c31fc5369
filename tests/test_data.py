"""Tests for helpers.data: I/O, validation (file:line errors), dedup, PII scrubbing, splits, conversions."""

import json
import random
import re

import pytest

from helpers.data import (
    DataFormatError,
    RemovalReport,
    Removed,
    chat_to_prompt_completion,
    chat_to_text,
    dedup_key,
    deduplicate,
    detect_format,
    from_dataset,
    normalize_text,
    prompt_completion_to_chat,
    read_jsonl,
    scrub_pii,
    scrub_rows,
    split_rows,
    to_dataset,
    validate_rows,
    write_jsonl,
)


def chat(*turns, **extra):
    roles = {"s": "system", "u": "user", "a": "assistant"}
    return {"messages": [{"role": roles[r], "content": c} for r, c in turns], **extra}


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ I/O


def test_jsonl_roundtrip_keeps_unicode_and_leaves_no_temp_files(tmp_path):
    rows = [chat(("u", "Grüße?"), ("a", "你好")), {"prompt": "p", "completion": "c", "id": 3}]
    path = write_jsonl(rows, tmp_path / "sub" / "rows.jsonl")
    assert read_jsonl(path) == rows
    assert "你好" in path.read_text(encoding="utf-8")  # written as UTF-8, not \u escapes
    assert [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_jsonl([{"a": 1}], tmp_path / "rows.jsonl")
    with pytest.raises(TypeError, match="row 1"):
        write_jsonl([{"a": 2}, ["not", "a", "dict"]], path)
    assert read_jsonl(path) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_dataset_roundtrip():
    rows = [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}]
    ds = to_dataset(rows)
    assert len(ds) == 2 and set(ds.column_names) == {"prompt", "completion"}
    assert from_dataset(ds) == rows


# ------------------------------------------------------------------------------------------ validation


def test_bad_json_line_names_file_and_line(tmp_path):
    path = write_lines(
        tmp_path / "train.jsonl", [json.dumps(chat(("u", "hi"), ("a", "yo"))), "", '{"messages": [}']
    )
    with pytest.raises(DataFormatError) as err:
        read_jsonl(path)
    assert f"{path}:3:" in str(err.value) and "invalid JSON" in str(err.value)
    assert err.value.errors[0][0] == 3


def test_non_object_line_is_reported(tmp_path):
    path = write_lines(tmp_path / "x.jsonl", ["[1, 2]"])
    with pytest.raises(DataFormatError, match=r"x\.jsonl:1: expected a JSON object, got list"):
        read_jsonl(path)


def test_a_line_that_is_not_utf8_names_file_line_and_byte_and_every_bad_line_is_listed(tmp_path):
    path = tmp_path / "latin1.jsonl"
    good = json.dumps({"prompt": "p", "completion": "c"}).encode()
    path.write_bytes(b"\n".join([good, '{"prompt": "caf\u00e9", "completion": "x"}'.encode("latin-1"), good,
                                  "{\"a\": \"\u00fc\"}".encode("latin-1")]) + b"\n")
    with pytest.raises(DataFormatError) as err:
        read_jsonl(path)
    message = str(err.value)
    assert f"{path}:2: not UTF-8: byte 0xe9" in message and f"{path}:4: not UTF-8: byte 0xfc" in message
    assert [line for line, _ in err.value.errors] == [2, 4]
    assert not isinstance(err.value, UnicodeDecodeError)


def test_utf16_file_is_reported_line_by_line_not_as_a_bare_decode_error(tmp_path):
    path = tmp_path / "utf16.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n", encoding="utf-16")
    with pytest.raises(DataFormatError, match=r"utf16\.jsonl:1: not UTF-8: byte 0xff"):
        read_jsonl(path)


def test_missing_file_and_directory_name_the_resolved_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    resolved = re.escape(str(tmp_path / "nope.jsonl"))
    with pytest.raises(FileNotFoundError, match=rf"nope\.jsonl \(resolved: {resolved}\) does not exist"):
        read_jsonl("nope.jsonl")
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileNotFoundError, match="is a directory, not a JSONL file"):
        read_jsonl(tmp_path / "folder")


def test_empty_file_is_an_error_unless_allowed(tmp_path):
    for name, content in (("empty.jsonl", ""), ("blank.jsonl", "\n  \n\n")):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(DataFormatError, match=rf"{re.escape(str(path))} holds no rows"):
            read_jsonl(path)
        assert read_jsonl(path, allow_empty=True) == []
    assert read_jsonl(write_jsonl([], tmp_path / "none.jsonl"), allow_empty=True) == []


def test_a_row_with_the_wrong_schema_names_file_line_and_keys(tmp_path):
    rows = [chat(("u", "hi"), ("a", "yo")), {"prompt": "p", "completion": "c"}]
    path = write_lines(tmp_path / "mixed.jsonl", [json.dumps(r) for r in rows])
    expected = r"mixed\.jsonl:2: missing key 'messages' \(keys: \['completion', 'prompt'\]\)"
    with pytest.raises(DataFormatError, match=expected):
        read_jsonl(path, "auto")


def test_two_normalisations_two_names_one_home():
    """The dedup key keeps articles and symbols; the answer key drops articles and all punctuation."""
    assert dedup_key("The cat, a Dog!") == "the cat a dog" and normalize_text("The cat, a Dog!") == "cat dog"
    assert dedup_key("3+4") != dedup_key("3*4") and normalize_text("U.S.A.") == "usa"
    assert dedup_key("U.S.A.") == "u s a"


@pytest.mark.parametrize(
    ("row", "fmt", "expected"),
    [
        ({"text": "hi"}, "chat", "missing key 'messages'"),
        (chat(("u", "a"), ("u", "b"), ("a", "c")), "chat", "role 'user' where 'assistant' was expected"),
        (chat(("a", "hello"), ("u", "hi"), ("a", "x")), "chat", "role 'assistant' where 'user' was expected"),
        (chat(("u", "hi"), ("s", "late system"), ("a", "x")), "chat", "role 'system' where 'assistant'"),
        (chat(("u", "hi"), ("a", "   ")), "chat", "messages[1] (assistant) has empty content"),
        (
            chat(("u", "hi"), ("a", "ok"), ("u", "more?")),
            "chat",
            "must end with a message of role 'assistant', but the last role is 'user'",
        ),
        ({"messages": [{"role": "bot", "content": "x"}]}, "chat", "has role 'bot'"),
        ({"messages": [{"role": "user"}]}, "chat", "missing 'content'"),
        ({"messages": []}, "chat", "non-empty list of messages"),
        ({"prompt": "q"}, "prompt_completion", "missing key(s) ['completion']"),
        ({"prompt": "", "completion": "a"}, "prompt_completion", "'prompt' is an empty string"),
        (
            {"prompt": [{"role": "user", "content": "q"}], "completion": "a"},
            "prompt_completion",
            "mixed kinds",
        ),
        (
            {"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "user", "content": "a"}]},
            "prompt_completion",
            "must all be assistant turns",
        ),
        ({"prompt": "q", "completion": 5}, "prompt_completion", "must be a string or a list of messages"),
        ({"prompt": "q", "chosen": "same", "rejected": "same"}, "preference", "identical"),
        ({"prompt": "q", "chosen": "a"}, "preference", "missing key(s) ['rejected']"),
        ({"prompt": "q", "completion": "a", "label": 1}, "kto", "'label' must be true or false"),
        ({"prompt": "q", "completion": "a"}, "kto", "missing key 'label'"),
    ],
)
def test_each_malformed_row_gets_a_precise_message_with_file_and_line(tmp_path, row, fmt, expected):
    good = {
        "chat": chat(("u", "q"), ("a", "a")),
        "prompt_completion": {"prompt": "q", "completion": "a"},
        "preference": {"prompt": "q", "chosen": "a", "rejected": "b"},
        "kto": {"prompt": "q", "completion": "a", "label": False},
    }[fmt]
    path = write_lines(tmp_path / "data.jsonl", [json.dumps(good), json.dumps(row)])
    with pytest.raises(DataFormatError) as err:
        read_jsonl(path, fmt=fmt)
    message = str(err.value)
    assert f"{path}:2:" in message, message
    assert expected in message, message
    assert f"{path}:1:" not in message  # the valid first row is not blamed


def test_all_problems_are_reported_with_blank_lines_counted(tmp_path):
    lines = [
        json.dumps(chat(("u", "q"), ("a", ""))),
        "",
        json.dumps({"nope": 1}),
        json.dumps(chat(("u", "q"))),
    ]
    path = write_lines(tmp_path / "many.jsonl", lines)
    with pytest.raises(DataFormatError) as err:
        read_jsonl(path, fmt="chat")
    assert [line for line, _ in err.value.errors] == [1, 3, 4]
    assert "3 problem(s)" in str(err.value)


def test_valid_rows_of_every_format_pass(tmp_path):
    user = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]
    answer = [{"role": "assistant", "content": "a"}]
    cases = {
        "chat": [chat(("s", "sys"), ("u", "q"), ("a", "a"), ("u", "q2"), ("a", "a2"), id="x", category="c")],
        "prompt_completion": [{"prompt": "q", "completion": "a"}, {"prompt": user, "completion": answer}],
        "preference": [
            {"prompt": user, "chosen": answer, "rejected": [{"role": "assistant", "content": "b"}]}
        ],
        "kto": [{"prompt": "q", "completion": "a", "label": True}],
    }
    for fmt, rows in cases.items():
        assert validate_rows(rows, fmt) == rows
        assert detect_format(rows[0]) == fmt
        path = write_jsonl(rows, tmp_path / f"{fmt}.jsonl")
        assert read_jsonl(path, fmt="auto") == rows


def test_validate_rows_uses_source_name_and_rejects_unknown_format():
    with pytest.raises(DataFormatError, match=r"^1 problem\(s\) in mem \(format 'chat'\):\nmem:2: "):
        validate_rows([chat(("u", "q"), ("a", "a")), {"x": 1}], "chat", source="mem")
    with pytest.raises(ValueError, match="unknown format"):
        validate_rows([], "sharegpt")
    with pytest.raises(DataFormatError, match="cannot tell the format"):
        detect_format({"question": "q"})


# ------------------------------------------------------------------------------------------ dedup


def _random_text(rng, words, n):
    return " ".join(rng.choice(words) for _ in range(n))


def _distinct_rows(n, seed=0):
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 9))) for _ in range(2000)]
    return [
        {"id": f"r{i}", "prompt": _random_text(rng, vocab, 40), "completion": _random_text(rng, vocab, 40)}
        for i in range(n)
    ]


def test_dedup_finds_planted_exact_and_near_duplicates_and_names_the_original():
    rows = _distinct_rows(300)
    base = rows[10]
    words = base["completion"].split()
    planted = [
        {
            "id": "exact",
            "prompt": base["prompt"].upper() + " !!",
            "completion": "  " + base["completion"] + ".",
        },
        {"id": "near", "prompt": base["prompt"], "completion": " ".join(words[:-1] + ["zzzq"])},
        {"id": "near2", "prompt": rows[20]["prompt"], "completion": rows[20]["completion"] + " extra"},
    ]
    report = deduplicate(rows + planted)
    assert len(report.kept) == 300
    by_id = {r.id: r for r in report.removed}
    assert set(by_id) == {"exact", "near", "near2"}
    assert (by_id["exact"].reason, by_id["exact"].duplicate_of) == ("exact_duplicate", "r10")
    assert (by_id["near"].reason, by_id["near"].duplicate_of) == ("near_duplicate", "r10")
    assert by_id["near2"].duplicate_of == "r20"
    assert report.counts == {"exact_duplicate": 1, "near_duplicate": 2}
    assert report.summary() == "kept 300, removed 3 (exact_duplicate: 1, near_duplicate: 2)"


def test_dedup_does_not_flag_distinct_rows_and_near_detection_can_be_switched_off():
    rows = _distinct_rows(2000, seed=1)
    assert deduplicate(rows).removed == []
    near = dict(rows[0], id="n", completion=rows[0]["completion"] + " tail")
    report = deduplicate([rows[0], near], near_threshold=None)
    assert report.removed == []
    assert deduplicate([rows[0], near], near_threshold=0.5).counts == {"near_duplicate": 1}


def test_dedup_agrees_with_brute_force_jaccard():
    """LSH only proposes candidates; the verdicts must equal a brute-force pass over character 5-grams."""
    rng = random.Random(3)
    rows = _distinct_rows(120, seed=2)
    for i in range(40):  # variants with 1..12 words changed: similarities straddle the threshold
        src = rows[rng.randrange(len(rows))]
        words = src["completion"].split()
        for _ in range(rng.randint(1, 12)):
            words[rng.randrange(len(words))] = "qq" + str(rng.randrange(100))
        rows.append({"id": f"v{i}", "prompt": src["prompt"], "completion": " ".join(words)})

    def grams(row):
        text = dedup_key(row["prompt"] + "\n" + row["completion"])
        return {text[i : i + 5] for i in range(len(text) - 4)}

    expected, kept = set(), []
    for row in rows:
        g = grams(row)
        if any(len(g & k) / len(g | k) >= 0.8 for k in kept):
            expected.add(row["id"])
        else:
            kept.append(g)
    report = deduplicate(rows, near_threshold=0.8)
    assert {r.id for r in report.removed} == expected
    assert 0 < len(expected) < 40  # the planted set really straddles the threshold


def test_dedup_reads_rows_without_standard_text_keys():
    rows = [
        {"id": 1, "question": "Where was Ana born?", "answer": "Lodrond"},
        {"id": 2, "question": "Where was Ana born?", "answer": "Brapol"},
        {"id": 3, "question": "where was ana born", "answer": "Lodrond!"},
    ]
    report = deduplicate(rows, near_threshold=None)
    assert [(r.id, r.duplicate_of) for r in report.removed] == [(3, 1)]


def test_dedup_uses_index_when_rows_have_no_id_and_is_deterministic():
    rows = [{"text": "One two three four five six"}, {"text": "one two, three four five six!"}]
    first, second = deduplicate(rows), deduplicate(rows)
    assert first.removed == second.removed == [Removed(1, 1, "exact_duplicate", 0)]


# ------------------------------------------------------------------------------------------ PII

PLANTED = [
    ("Write to anna.lee+news@mail.example.org today", "email"),
    ("call +44 20 7946 0958 now", "phone"),
    ("call +1-202-555-0147 now", "phone"),
    ("office (212) 555-0199 ext", "phone"),
    ("cell 415.555.0123 ok", "phone"),
    ("mobile 555-123-4567 ok", "phone"),
    ("Paris 01 42 68 53 00 ok", "phone"),
    ("London 020 7946 0958 ok", "phone"),
    ("China 13812345678 ok", "phone"),
    ("SSN 123-45-6789 on file", "id"),
    ("card 4111 1111 1111 1111 expires", "id"),
    ("card 5500-0000-0000-0004 expires", "id"),
    ("passport 123456789 issued", "id"),
]


@pytest.mark.parametrize(("text", "kind"), PLANTED)
def test_scrub_catches_planted_pii(text, kind):
    scrubbed, counts = scrub_pii(text)
    placeholder = {"email": "[EMAIL]", "phone": "[PHONE]", "id": "[ID]"}[kind]
    assert placeholder in scrubbed, scrubbed
    assert counts[kind] == 1 and sum(counts.values()) == 1
    assert not re.search(r"\d{3}", scrubbed.replace(placeholder, "")), scrubbed  # no digits left behind


@pytest.mark.parametrize(
    "text",
    [
        "12 + 7 = 19, so she has 19 apples.",
        "In 2024 the price rose from $1,250.50 to $1,399.99.",
        "<<48*3=144>>144 and <<144-20=124>>124\n#### 124",
        "Pi is 3.14159265358979 and e is 2.718281828.",
        "The years 1999 2000 2001 2002 were busy.",
        "Meet on 2024-05-01 at 10:30; rooms 101-120.",
        "Compute -5 + 3 = -2 and 1000000 / 8 = 125000.",
        "The scores were 100 200 3000 4000 in total.",
    ],
)
def test_scrub_leaves_ordinary_numbers_alone(text):
    assert scrub_pii(text) == (text, {"email": 0, "phone": 0, "id": 0})


def test_scrub_rows_copies_rows_and_totals_counts():
    rows = [chat(("u", "mail me: a@b.io"), ("a", "ok, 555-123-4567")), {"prompt": "SSN 123-45-6789", "id": 1}]
    scrubbed, totals = scrub_rows(rows)
    assert totals == {"email": 1, "phone": 1, "id": 1}
    assert scrubbed[0]["messages"][1]["content"] == "ok, [PHONE]"
    assert scrubbed[1] == {"prompt": "SSN [ID]", "id": 1}
    assert rows[0]["messages"][0]["content"] == "mail me: a@b.io"  # input untouched
    other, totals = scrub_rows([{"id": "123456789", "question": "Is x@y.org yours?", "n": 123456789}])
    assert other == [{"id": "123456789", "question": "Is [EMAIL] yours?", "n": 123456789}]
    assert totals == {"email": 1, "phone": 0, "id": 0}


# ------------------------------------------------------------------------------------------ splits


def test_split_sizes_cover_every_row_once_and_follow_the_seed():
    rows = [{"id": i} for i in range(101)]
    splits = split_rows(rows, (0.8, 0.1, 0.1), seed=7)
    assert [len(v) for v in splits.values()] == [81, 10, 10]
    assert sorted(r["id"] for part in splits.values() for r in part) == list(range(101))
    assert split_rows(rows, seed=7) == splits
    assert split_rows(rows, seed=8)["test"] != splits["test"]


def test_group_split_never_splits_a_group():
    rng = random.Random(0)
    rows = [{"person": f"p{rng.randrange(60)}", "i": i} for i in range(600)]
    splits = split_rows(rows, (0.7, 0.15, 0.15), seed=1, group_key="person")
    owner = {}
    for name, part in splits.items():
        for row in part:
            assert owner.setdefault(row["person"], name) == name
    assert sum(len(p) for p in splits.values()) == 600
    assert abs(len(splits["train"]) - 420) <= 40  # whole groups of about 10 rows: close to the target
    by_fn = split_rows(rows, (0.7, 0.15, 0.15), seed=1, group_key=lambda r: r["person"])
    assert by_fn == splits


def test_split_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sum to 1"):
        split_rows([{"a": 1}], (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="split names"):
        split_rows([{"a": 1}], (0.5, 0.5))
    with pytest.raises(DataFormatError, match="row 2 has no group key 'person'"):
        split_rows([{"person": "a"}, {"x": 1}], group_key="person")


# ------------------------------------------------------------------------------------------ conversions


def test_chat_and_prompt_completion_convert_both_ways():
    row = chat(("s", "sys"), ("u", "q1"), ("a", "a1"), ("u", "q2"), ("a", "a2"), id="c1")
    pc = chat_to_prompt_completion(row)
    assert pc["id"] == "c1" and pc["completion"] == [{"role": "assistant", "content": "a2"}]
    assert [m["role"] for m in pc["prompt"]] == ["system", "user", "assistant", "user"]
    validate_rows([pc], "prompt_completion")
    assert prompt_completion_to_chat(pc) == row
    assert prompt_completion_to_chat({"prompt": "q", "completion": "a"}) == chat(("u", "q"), ("a", "a"))
    with pytest.raises(DataFormatError, match="not a valid chat row"):
        chat_to_prompt_completion(chat(("u", "q")))


def test_chat_to_text_plain_and_with_a_template():
    row = chat(("u", "hi"), ("a", "hello"))
    assert chat_to_text(row) == "user: hi\nassistant: hello"

    class Template:
        def apply_chat_template(self, messages, tokenize):
            assert tokenize is False
            return "|".join(m["content"] for m in messages)

    assert chat_to_text(row, Template()) == "hi|hello"


def test_removal_report_counts():
    report = RemovalReport(
        [{"a": 1}], [Removed(1, "x", "tie"), Removed(2, "y", "tie"), Removed(3, "z", "dup")]
    )
    assert report.counts == {"tie": 2, "dup": 1}
    assert report.summary() == "kept 1, removed 3 (dup: 1, tie: 2)"


def test_a_byte_order_mark_at_the_start_of_a_utf8_file_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "one"}\n{"text": "two"}\n')
    assert [row["text"] for row in read_jsonl(path)] == ["one", "two"]
