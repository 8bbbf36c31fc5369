"""Data plumbing for the SFT and preference notebooks: JSONL I/O, format validation, dedup, PII, splits.

Four row formats are understood, the same ones TRL's trainers take:

- ``chat``: ``{"messages": [{"role", "content"}, ...]}``: an optional system message, then user and
  assistant turns alternating, ending with an assistant turn.
- ``prompt_completion``: ``{"prompt", "completion"}``: both plain strings, or both message lists
  (the prompt ends with a user turn, the completion holds assistant turns).
- ``preference``: ``{"prompt", "chosen", "rejected"}`` with ``chosen != rejected``.
- ``kto``: ``{"prompt", "completion", "label"}`` with a boolean label (True = desirable).

Extra keys (``id``, ``category``, scores...) are always allowed and carried along.

Two rules run through the module. Bad input fails loudly, naming the file and the 1-based line and
saying what is wrong, so a broken row is fixed rather than trained on. And nothing is dropped silently:
every function that removes rows returns a :class:`RemovalReport` listing each removed row, the reason,
and (for duplicates) the row it duplicates.
"""

from __future__ import annotations

import json
import os
import random
import re
import string
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("chat", "prompt_completion", "preference", "kto")
ROLES = ("system", "user", "assistant")
TEXT_KEYS = ("messages", "prompt", "completion", "chosen", "rejected", "text")  # where rows keep their text
MAX_REPORTED_ERRORS = 20


class DataFormatError(ValueError):
    """Malformed data. ``errors`` holds every ``(line, problem)`` found; the message names file and line."""

    def __init__(self, message: str, errors: Sequence[tuple[int | None, str]] = ()):
        super().__init__(message)
        self.errors = list(errors)


# --------------------------------------------------------------------------------------------------
# Reports: the one shape used by everything that removes rows
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    """One removed row: its position in the input, its id, why it went, and what it duplicates."""

    index: int
    id: Any
    reason: str
    duplicate_of: Any = None
    detail: str = ""


@dataclass
class RemovalReport:
    """The rows kept and the rows removed, each removal with a reason, so that nothing vanishes unseen."""

    kept: list[dict]
    removed: list[Removed] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Number of removed rows per reason."""
        return dict(Counter(r.reason for r in self.removed))

    def summary(self) -> str:
        """One line for notebooks and logs, e.g. ``kept 95, removed 5 (exact_duplicate: 3, ...)``."""
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        return f"kept {len(self.kept)}, removed {len(self.removed)}" + (f" ({reasons})" if reasons else "")


# --------------------------------------------------------------------------------------------------
# JSONL and datasets I/O
# --------------------------------------------------------------------------------------------------


def read_jsonl(path: str | os.PathLike, fmt: str | None = None, *, allow_empty: bool = False) -> list[dict]:
    """Read a UTF-8 JSONL file; with ``fmt`` (a format name or ``"auto"``) validate every row too.

    Blank lines are skipped (they hold no row) but still counted, so reported line numbers match
    what an editor shows. Every problem names the file and its line: a line that is not UTF-8 (with
    the offending byte), not JSON, or not an object; a missing file names the absolute path looked
    at; a file with no rows is an error unless ``allow_empty`` (an empty training file is a mistake
    far more often than an intent).
    """
    source = str(path)
    target = Path(path)
    if not target.is_file():
        where = f"{source} (resolved: {target.resolve()})" if not target.is_absolute() else source
        problem = "is a directory, not a JSONL file" if target.is_dir() else "does not exist"
        raise FileNotFoundError(f"{where} {problem}")
    rows: list[dict] = []
    lines: list[int] = []
    errors: list[tuple[int | None, str]] = []
    with target.open("rb") as handle:  # bytes, so that a bad byte is reported with its line
        for lineno, raw in enumerate(handle, start=1):
            try:
                # A byte order mark (what some editors write at the start of a UTF-8 file) is not part of the row.
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                errors.append((lineno, f"not UTF-8: byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line "
                                       "(save the file as UTF-8)"))
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                errors.append((lineno, f"invalid JSON: {exc.msg} at column {exc.colno}"))
                continue
            if not isinstance(row, dict):
                errors.append((lineno, f"expected a JSON object, got {type(row).__name__}"))
                continue
            rows.append(row)
            lines.append(lineno)
    if errors:
        raise _format_error(source, errors)
    if not rows and not allow_empty:
        raise DataFormatError(f"{source} holds no rows (the file is empty or only blank lines)", [(None, "no rows")])
    if fmt is not None:
        validate_rows(rows, fmt, source=source, line_numbers=lines)
    return rows


def write_jsonl(rows: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write rows as UTF-8 JSONL atomically: a crash mid-write never leaves a half-written file behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for i, row in enumerate(rows):
                if not isinstance(row, dict):
                    raise TypeError(f"row {i} is a {type(row).__name__}, expected a dict")
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp_name, target)
    except BaseException:
        os.unlink(tmp_name)
        raise
    return target


def to_dataset(rows: Sequence[dict]):
    """Rows -> ``datasets.Dataset`` (imported lazily: it costs most of a second)."""
    from datasets import Dataset

    return Dataset.from_list(list(rows))


def from_dataset(ds) -> list[dict]:
    """``datasets.Dataset`` -> rows (note: Arrow fills keys missing from a row with None)."""
    return ds.to_list()


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def detect_format(row: dict) -> str:
    """Guess a row's format from its keys; raises DataFormatError when no format fits."""
    if "messages" in row:
        return "chat"
    if "chosen" in row or "rejected" in row:
        return "preference"
    if "label" in row:
        return "kto"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    raise DataFormatError(f"cannot tell the format of a row with keys {sorted(row)}")


def validate_rows(
    rows: Sequence[dict],
    fmt: str,
    source: str = "<rows>",
    line_numbers: Sequence[int] | None = None,
) -> list[dict]:
    """Check every row against ``fmt`` (or ``"auto"``: the format of the first row) and return the rows.

    All problems are collected before raising, so one run shows everything that needs fixing; the
    message lists them as ``source:line: problem`` (line = 1-based position unless ``line_numbers``).
    """
    if line_numbers is not None and len(line_numbers) != len(rows):
        raise ValueError("line_numbers must have one entry per row")
    lines = list(line_numbers) if line_numbers is not None else list(range(1, len(rows) + 1))
    if fmt == "auto":
        if not rows:
            return list(rows)
        try:
            fmt = detect_format(rows[0])
        except DataFormatError as exc:
            raise _format_error(source, [(lines[0], str(exc))]) from None
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS} or 'auto'")
    errors = []
    for lineno, row in zip(lines, rows, strict=True):
        for problem in row_problems(row, fmt):
            errors.append((lineno, problem))
    if errors:
        raise _format_error(source, errors, fmt)
    return list(rows)


def row_problems(row: Any, fmt: str) -> list[str]:
    """Everything wrong with one row for ``fmt``, as readable sentences (empty list: the row is valid)."""
    if not isinstance(row, dict):
        return [f"expected a JSON object, got {type(row).__name__}"]
    checker = _ROW_CHECKERS.get(fmt)
    if checker is None:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    return checker(row)


def _format_error(
    source: str, errors: list[tuple[int | None, str]], fmt: str | None = None
) -> DataFormatError:
    shown = [f"{source}:{line}: {problem}" for line, problem in errors[:MAX_REPORTED_ERRORS]]
    if len(errors) > MAX_REPORTED_ERRORS:
        shown.append(f"... and {len(errors) - MAX_REPORTED_ERRORS} more problems")
    head = f"{len(errors)} problem(s) in {source}" + (f" (format {fmt!r})" if fmt else "")
    return DataFormatError(head + ":\n" + "\n".join(shown), errors)


def _message_problems(messages: Any, where: str) -> list[str]:
    """Shape of each message: a dict with a known role and non-empty string content."""
    if not isinstance(messages, list) or not messages:
        return [f"{where} must be a non-empty list of messages"]
    problems = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            problems.append(f"{where}[{i}] must be an object with 'role' and 'content'")
            continue
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            problems.append(f"{where}[{i}] has role {role!r}; expected one of {ROLES}")
        if "content" not in msg:
            problems.append(f"{where}[{i}] is missing 'content'")
        elif not isinstance(content, str):
            problems.append(f"{where}[{i}] content must be a string, got {type(content).__name__}")
        elif not content.strip():
            problems.append(f"{where}[{i}] ({role}) has empty content")
    return problems


def _order_problems(messages: list[dict], where: str, last_role: str) -> list[str]:
    """Turn order: optional system first, then user/assistant alternating from user, ending on last_role."""
    roles = [m.get("role") for m in messages]
    body = roles[1:] if roles and roles[0] == "system" else roles
    if not body:
        return [f"{where} has only a system message"]
    for i, role in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            pos = i + (len(roles) - len(body))
            return [
                f"{where}[{pos}] has role {role!r} where {expected!r} was expected "
                f"(order: optional system, then user/assistant alternating; roles are {roles})"
            ]
    if body[-1] != last_role:
        return [f"{where} must end with a message of role {last_role!r}, but the last role is {body[-1]!r}"]
    return []


def _text_or_messages(value: Any, key: str, kind: str) -> list[str]:
    """A prompt-like field (kind 'prompt') or an answer-like field (kind 'answer')."""
    if isinstance(value, str):
        return [] if value.strip() else [f"'{key}' is an empty string"]
    if isinstance(value, list):
        problems = _message_problems(value, key)
        if problems:
            return problems
        if kind == "prompt":
            return _order_problems(value, key, last_role="user")
        bad = [i for i, m in enumerate(value) if m["role"] != "assistant"]
        return [f"'{key}' messages must all be assistant turns; {key}[{bad[0]}] is not"] if bad else []
    if value is None:
        return [f"'{key}' is null"]
    return [f"'{key}' must be a string or a list of messages, got {type(value).__name__}"]


def _check_chat(row: dict) -> list[str]:
    if "messages" not in row:
        return [f"missing key 'messages' (keys: {sorted(row)})"]
    problems = _message_problems(row["messages"], "messages")
    return problems or _order_problems(row["messages"], "messages", last_role="assistant")


def _check_answers(row: dict, keys: Sequence[str]) -> list[str]:
    """Prompt plus answer-like keys; all strings or all message lists, as TRL needs one kind per row."""
    missing = [k for k in ("prompt", *keys) if k not in row]
    if missing:
        return [f"missing key(s) {missing} (keys: {sorted(row)})"]
    problems = _text_or_messages(row["prompt"], "prompt", "prompt")
    for key in keys:
        problems += _text_or_messages(row[key], key, "answer")
    kinds = {k: "string" if isinstance(row[k], str) else "message list" for k in ("prompt", *keys)}
    if not problems and len(set(kinds.values())) > 1:
        problems.append(f"mixed kinds {kinds}: use plain strings everywhere or message lists everywhere")
    return problems


def _check_prompt_completion(row: dict) -> list[str]:
    return _check_answers(row, ("completion",))


def _check_preference(row: dict) -> list[str]:
    problems = _check_answers(row, ("chosen", "rejected"))
    if not problems and row["chosen"] == row["rejected"]:
        problems.append("'chosen' and 'rejected' are identical, so the pair teaches nothing")
    return problems


def _check_kto(row: dict) -> list[str]:
    problems = _check_answers(row, ("completion",))
    if "label" not in row:
        problems.append("missing key 'label'")
    elif not isinstance(row["label"], bool):
        problems.append(f"'label' must be true or false, got {row['label']!r}")
    return problems


_ROW_CHECKERS: dict[str, Callable[[dict], list[str]]] = {
    "chat": _check_chat,
    "prompt_completion": _check_prompt_completion,
    "preference": _check_preference,
    "kto": _check_kto,
}


# --------------------------------------------------------------------------------------------------
# Text of a row, normalisation, deduplication
# --------------------------------------------------------------------------------------------------


def row_text(row: dict) -> str:
    """All the text of a row in reading order: messages, prompt, completion, chosen, rejected, text.

    Rows with none of those keys (e.g. ``{"id", "question", "answer"}``) fall back to all their
    top-level string values except ``id``, so that such rows are never all treated as empty texts.
    """
    parts: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(
                m["content"] for m in value if isinstance(m, dict) and isinstance(m.get("content"), str)
            )

    for key in text_keys(row):
        add(row[key])
    return "\n".join(parts)


def text_keys(row: dict) -> list[str]:
    """The keys that hold a row's text: those of :data:`TEXT_KEYS` present, else every string field but id."""
    known = [k for k in TEXT_KEYS if k in row]
    return known or [k for k, v in row.items() if isinstance(v, str) and k != "id"]


# Text normalisation has one home, here: two keys for two jobs. `dedup_key` decides when two rows are
# the same text (deduplication); `normalize_text` decides when a short answer equals its gold answer
# (exact match, re-exported by helpers.evals). They differ on purpose: "a cat" and "the cat" are
# different rows but the same answer, and "3+4" and "3*4" are different rows.
_PUNCT_TO_SPACE: dict[int, str] = {}
_PUNCT_DELETED: dict[int, None] = {ord(ch): None for ch in string.punctuation}
_CLASSIFIED: set[str] = set()
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _learn_punctuation(text: str) -> None:
    """Add the Unicode punctuation of ``text`` to both translation tables (each character once per process)."""
    for ch in set(text) - _CLASSIFIED:
        _CLASSIFIED.add(ch)
        if unicodedata.category(ch).startswith("P"):
            _PUNCT_TO_SPACE[ord(ch)] = " "
            _PUNCT_DELETED[ord(ch)] = None


def dedup_key(text: str) -> str:
    """Lowercase, punctuation to spaces, whitespace collapsed: the key under which two rows count as identical.

    Only Unicode punctuation goes; symbols such as ``+`` and ``*`` stay, so "3+4" and "3*4" differ.
    """
    lowered = text.lower()
    _learn_punctuation(lowered)
    return " ".join(lowered.translate(_PUNCT_TO_SPACE).split())


def normalize_text(text: str) -> str:
    """Casefold, delete punctuation (ASCII and Unicode) and the articles a/an/the, collapse whitespace.

    The usual normalisation for short-answer exact match: "The Eiffel Tower." equals "eiffel tower"
    and "U.S.A." equals "USA" (punctuation is deleted, not replaced by a space).
    """
    lowered = text.casefold()
    _learn_punctuation(lowered)
    return " ".join(_ARTICLES.sub(" ", lowered.translate(_PUNCT_DELETED)).split())


_MERSENNE = np.uint64((1 << 31) - 1)
_BASE = np.uint64(1_000_003)


def _shingles(text: str, n: int) -> np.ndarray:
    """Sorted distinct hashes of the character n-grams (a polynomial rolling hash mod 2^31-1)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) <= n:
        codes = np.concatenate([codes, np.zeros(n - len(codes) + 1, dtype=np.uint64)])
    count = len(codes) - n + 1
    hashes = np.zeros(count, dtype=np.uint64)
    power = np.uint64(1)
    for k in range(n):
        hashes = (hashes + codes[k : k + count] * power) % _MERSENNE
        power = power * _BASE % _MERSENNE
    return np.unique(hashes)


def _minhash_all(
    shingle_sets: list[np.ndarray], a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16
) -> np.ndarray:
    """MinHash signatures (rows x permutations): for each hash function, the minimum over a row's shingles.

    The hash functions are multiply-shift ones, ``(a*h + b) mod 2^64 >> 32`` with odd ``a`` (numpy's
    uint64 arithmetic wraps, which is exactly the mod 2^64), cheaper than a modulo per element.

    Rows are processed in chunks of about ``chunk`` shingles so memory stays at a few tens of MB.
    """
    out = np.empty((len(shingle_sets), len(a)), dtype=np.uint64)
    start = 0
    while start < len(shingle_sets):
        stop, total = start, 0
        while stop < len(shingle_sets) and (stop == start or total + len(shingle_sets[stop]) <= chunk):
            total += len(shingle_sets[stop])
            stop += 1
        flat = np.concatenate(shingle_sets[start:stop])
        offsets = np.cumsum([0] + [len(s) for s in shingle_sets[start : stop - 1]])
        permuted = (a[:, None] * flat[None, :] + b[:, None]) >> np.uint64(32)
        out[start:stop] = np.minimum.reduceat(permuted, offsets, axis=1).T
        start = stop
    return out


def _jaccard(x: np.ndarray, y: np.ndarray) -> float:
    inter = len(np.intersect1d(x, y, assume_unique=True))
    return inter / (len(x) + len(y) - inter)


def _band_rows(num_perm: int, threshold: float, target_recall: float = 0.99) -> int:
    """Rows per LSH band: the largest that still makes a pair at the threshold a candidate 99 % of the time.

    More rows per band means fewer false candidates (faster), fewer rows means better recall; exact
    Jaccard is checked on every candidate, so LSH only has to avoid missing true duplicates.
    """
    best = 1
    for rows in range(1, num_perm + 1):
        if num_perm % rows:
            continue
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= target_recall:
            best = rows
    return best


def deduplicate(
    rows: Sequence[dict],
    *,
    text_fn: Callable[[dict], str] = row_text,
    id_key: str = "id",
    near_threshold: float | None = 0.85,
    ngram: int = 5,
    num_perm: int = 64,
    seed: int = 0,
) -> RemovalReport:
    """Remove exact duplicates (after :func:`dedup_key`) and near duplicates (Jaccard of character
    ``ngram`` shingles >= ``near_threshold``; ``None`` turns near-dup detection off).

    The first occurrence is kept. Near-duplicate candidates come from MinHash LSH bands and are then
    confirmed with the exact Jaccard similarity, so the result does not depend on hashing luck beyond
    a small chance of missing a pair near the threshold. Each removal names the kept row it duplicates
    (by ``id_key``, or by index when rows have no id).
    """
    if near_threshold is not None and not 0 < near_threshold <= 1:
        raise ValueError(f"near_threshold must be in (0, 1], got {near_threshold}")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
    band = _band_rows(num_perm, near_threshold) if near_threshold is not None else num_perm

    def ident(i: int) -> Any:
        return rows[i].get(id_key, i)

    norms = [dedup_key(text_fn(row)) for row in rows]
    shingles = [_shingles(t, ngram) for t in norms] if near_threshold is not None and rows else []
    signatures = _minhash_all(shingles, a, b) if shingles else None

    kept: list[dict] = []
    removed: list[Removed] = []
    exact_seen: dict[str, int] = {}
    buckets: dict[tuple[int, bytes], list[int]] = {}
    for i, row in enumerate(rows):
        if norms[i] in exact_seen:
            removed.append(Removed(i, ident(i), "exact_duplicate", ident(exact_seen[norms[i]])))
            continue
        if signatures is not None:
            keys = [(k, signatures[i, k * band : (k + 1) * band].tobytes()) for k in range(num_perm // band)]
            candidates = sorted({j for key in keys for j in buckets.get(key, ())})
            best_j, best_sim = -1, 0.0
            for j in candidates:
                sim = _jaccard(shingles[i], shingles[j])
                if sim > best_sim:
                    best_j, best_sim = j, sim
            if best_j >= 0 and best_sim >= near_threshold:
                removed.append(
                    Removed(i, ident(i), "near_duplicate", ident(best_j), f"jaccard={best_sim:.3f}")
                )
                continue
            for key in keys:
                buckets.setdefault(key, []).append(i)
        exact_seen[norms[i]] = i
        kept.append(row)
    return RemovalReport(kept, removed)


# --------------------------------------------------------------------------------------------------
# PII scrubbing
# --------------------------------------------------------------------------------------------------

# Order matters: e-mails first (they contain digits), then the specific ID shapes, then phones, then
# bare long digit runs. Each pattern is anchored on digit boundaries so that parts of larger numbers
# and ordinary arithmetic ("12 + 7 = 19", "2024", "$1,250.50") are never touched.
_NB = r"(?<![\w@.+-])"  # not glued to a preceding word, digit or sign
_NA = r"(?![\w@-])"  # not glued to a following word or digit
_PII_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("id", re.compile(_NB + r"\d{3}-\d{2}-\d{4}" + _NA)),  # SSN-like
    ("card", re.compile(_NB + r"\d{4}(?:[ -]\d{4}){3}" + _NA)),  # card-like 4x4 groups, Luhn-checked
    ("phone", re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}" + _NA)),  # international
    ("phone", re.compile(r"(?<![\w(])\(\d{2,4}\)[ .-]?\d{3,4}[ .-]\d{4}" + _NA)),  # (555) 123-4567
    ("phone", re.compile(_NB + r"\d{3}([-.])\d{3}\1\d{4}" + _NA)),  # 555-123-4567, 555.123.4567
    ("phone", re.compile(_NB + r"0\d(?:[ .-]\d{2}){4}" + _NA)),  # 01 23 45 67 89
    ("phone", re.compile(_NB + r"0\d{1,4}[ -]\d{3,4}[ -]?\d{3,4}" + _NA)),  # 020 7946 0958, 030 1234567
    ("phone", re.compile(_NB + r"1[3-9]\d{9}" + _NA)),  # 13812345678 (mobile numbers in China)
    ("id", re.compile(_NB + r"\d{9,}" + _NA)),  # long digit runs: account, passport, ID numbers
]
_PII_PLACEHOLDER = {"email": "[EMAIL]", "phone": "[PHONE]", "id": "[ID]"}


def _luhn_ok(digits: Sequence[int]) -> bool:
    """The Luhn checksum that payment card numbers satisfy."""
    total = 0
    for pos, d in enumerate(reversed(digits)):
        if pos % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def scrub_pii(text: str) -> tuple[str, dict[str, int]]:
    """Replace e-mails, phone numbers and ID-like numbers with ``[EMAIL]``, ``[PHONE]``, ``[ID]``.

    Returns the scrubbed text and the number of replacements per kind. Two extra checks keep ordinary
    numbers safe: international phone numbers need 8 to 15 digits, and four groups of four digits
    count as a card number only when they pass the Luhn checksum (a list of years usually does not).
    """
    counts = dict.fromkeys(_PII_PLACEHOLDER, 0)
    for pattern_kind, pattern in _PII_PATTERNS:

        def replace(match: re.Match[str], pattern_kind: str = pattern_kind) -> str:
            found = match.group(0)
            digits = [int(ch) for ch in found if ch.isdigit()]
            if pattern_kind == "phone" and found.startswith("+") and not 8 <= len(digits) <= 15:
                return found
            if pattern_kind == "card" and not _luhn_ok(digits):
                return found
            kind = "id" if pattern_kind == "card" else pattern_kind
            counts[kind] += 1
            return _PII_PLACEHOLDER[kind]

        text = pattern.sub(replace, text)
    return text, counts


def scrub_rows(rows: Sequence[dict]) -> tuple[list[dict], dict[str, int]]:
    """Scrub the text fields of every row (see :func:`text_keys`).

    Rows are copied, never modified in place; the totals per kind are returned so the notebook can
    report what was found.
    """
    totals: Counter[str] = Counter(dict.fromkeys(_PII_PLACEHOLDER, 0))

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            new, counts = scrub_pii(value)
            totals.update(counts)
            return new
        if isinstance(value, list):
            return [
                {**m, "content": clean(m["content"])} if isinstance(m, dict) and "content" in m else m
                for m in value
            ]
        return value

    out = []
    for row in rows:
        new_row = dict(row)
        for key in text_keys(row):
            new_row[key] = clean(new_row[key])
        out.append(new_row)
    return out, dict(totals)


# --------------------------------------------------------------------------------------------------
# Deterministic splits
# --------------------------------------------------------------------------------------------------


def _split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Sizes that sum to n, as close to n*fraction as possible (largest remainder rounding)."""
    raw = [n * f for f in fractions]
    sizes = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda k: (-(raw[k] - sizes[k]), k))
    for k in order[: n - sum(sizes)]:
        sizes[k] += 1
    return sizes


def split_rows(
    rows: Sequence[dict],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_key: str | Callable[[dict], Any] | None = None,
    names: Sequence[str] = ("train", "validation", "test"),
) -> dict[str, list[dict]]:
    """Shuffle with ``seed`` and cut into splits; every row lands in exactly one split.

    With ``group_key`` (a key name or a function of the row) whole groups are assigned, so that, for
    example, no person's facts appear on both sides of a train/test boundary. Groups are shuffled
    and each goes to the split whose share of the row count its midpoint falls in, which keeps split
    sizes close to the fractions. Within a split, rows keep their original relative order.
    """
    if len(fractions) != len(names):
        raise ValueError(f"{len(fractions)} fractions but {len(names)} split names")
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {tuple(fractions)}")
    rng = random.Random(seed)
    n = len(rows)
    assignment = [0] * n
    if group_key is None:
        order = list(range(n))
        rng.shuffle(order)
        start = 0
        for k, size in enumerate(_split_sizes(n, fractions)):
            for i in order[start : start + size]:
                assignment[i] = k
            start += size
    else:
        key_fn = group_key if callable(group_key) else (lambda r: r[group_key])
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            try:
                key = key_fn(row)
            except KeyError:
                raise DataFormatError(f"row {i + 1} has no group key {group_key!r}") from None
            groups.setdefault(json.dumps(key, sort_keys=True, default=str), []).append(i)
        keys = sorted(groups)
        rng.shuffle(keys)
        bounds = np.cumsum(fractions) * n
        done = 0
        for key in keys:
            members = groups[key]
            midpoint = done + len(members) / 2
            k = min(int(np.searchsorted(bounds, midpoint, side="right")), len(fractions) - 1)
            for i in members:
                assignment[i] = k
            done += len(members)
    return {name: [rows[i] for i in range(n) if assignment[i] == k] for k, name in enumerate(names)}


# --------------------------------------------------------------------------------------------------
# Conversions between formats
# --------------------------------------------------------------------------------------------------


def chat_to_prompt_completion(row: dict) -> dict:
    """Everything before the last assistant turn becomes the prompt, that turn the completion.

    Training on this form puts the loss on the final answer only (TRL's completion-only loss).
    """
    problems = _check_chat(row)
    if problems:
        raise DataFormatError("not a valid chat row: " + "; ".join(problems))
    extra = {k: v for k, v in row.items() if k != "messages"}
    return {**extra, "prompt": row["messages"][:-1], "completion": [row["messages"][-1]]}


def prompt_completion_to_chat(row: dict) -> dict:
    """Join prompt and completion back into one conversation (plain strings become user/assistant)."""
    problems = _check_prompt_completion(row)
    if problems:
        raise DataFormatError("not a valid prompt_completion row: " + "; ".join(problems))
    extra = {k: v for k, v in row.items() if k not in ("prompt", "completion")}
    if isinstance(row["prompt"], str):
        messages = [
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["completion"]},
        ]
    else:
        messages = list(row["prompt"]) + list(row["completion"])
    return {**extra, "messages": messages}


def chat_to_text(row: dict, tokenizer=None) -> str:
    """Render a conversation as one string: with the tokenizer's chat template when given, otherwise a
    plain ``role: content`` transcript (handy for printing and for template-free base models)."""
    messages = row["messages"]
    if tokenizer is not None:
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
