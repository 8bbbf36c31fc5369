"""Assemble data/general_instructions.jsonl from the hand-written sources in data/build/general/.

Each ``<category>.txt`` file holds the conversations of one category in the marker format described
in ``textrecords.py``. The script checks the structure (roles alternate, the last turn is the
assistant's, single-turn categories have one user turn, multi_turn has two to four) and that no
opening prompt appears twice, then writes one JSON object per line with ids in a fixed order, so the
output is byte-for-byte reproducible. Any problem stops the build with file and line.

Usage: python data/build/build_general.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from textrecords import Record, RecordFormatError, parse_records

SOURCE_DIR = Path(__file__).resolve().parent / "general"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "general_instructions.jsonl"
# Order fixes the ids; new categories are appended so existing ids stay stable.
CATEGORIES = (
    "explanation",
    "how_to",
    "rewriting",
    "summarising",
    "classification",
    "extraction",
    "brainstorming",
    "advice",
    "simple_math",
    "coding_help",
    "refusal",
    "creative_writing",
    "multi_turn",
)
MULTI_TURN_USER_TURNS = range(2, 5)


def _messages(record: Record, category: str) -> list[dict[str, str]]:
    """Turn a record into chat messages, enforcing the turn structure of its category."""
    where = f"{record.path}:{record.line}"
    roles = [name for name, _ in record.fields]
    expected = ["user", "assistant"] * (len(roles) // 2)
    if roles != expected or not roles:
        raise RecordFormatError(f"{where}: turns must alternate user, assistant, ...: {roles}")
    user_turns = len(roles) // 2
    if category == "multi_turn" and user_turns not in MULTI_TURN_USER_TURNS:
        raise RecordFormatError(f"{where}: multi_turn needs 2-4 user turns, found {user_turns}")
    if category != "multi_turn" and user_turns != 1:
        raise RecordFormatError(f"{where}: category {category} is single-turn, found {user_turns} user turns")
    return [{"role": name, "content": text} for name, text in record.fields]


def _prompt_key(text: str) -> str:
    """Normalise a prompt for duplicate detection (case and spacing do not make a new prompt)."""
    return " ".join(text.lower().split())


def build_rows() -> list[dict]:
    """Read every category file and return the rows in id order; raise on any structural problem."""
    rows: list[dict] = []
    seen: dict[str, str] = {}
    for category in CATEGORIES:
        path = SOURCE_DIR / f"{category}.txt"
        for record in parse_records(path, {"user", "assistant"}):
            messages = _messages(record, category)
            key = _prompt_key(messages[0]["content"])
            if key in seen:
                raise RecordFormatError(f"{path}:{record.line}: prompt already used at {seen[key]}")
            seen[key] = f"{path.name}:{record.line}"
            rows.append({"id": f"gen-{len(rows) + 1:04d}", "category": category, "messages": messages})
    return rows


def write_jsonl(rows: list[dict], out: Path) -> None:
    """Write rows as UTF-8 JSONL with a fixed key order and a trailing newline."""
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSONL path")
    args = parser.parse_args(argv)
    rows = build_rows()
    write_jsonl(rows, args.out)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["category"]] = counts.get(row["category"], 0) + 1
    summary = ", ".join(f"{name}={n}" for name, n in counts.items())
    print(f"wrote {len(rows)} rows to {args.out} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
