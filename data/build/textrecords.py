"""Parser for the plain-text record files that hold the hand-written data sources.

The shipped datasets are written by hand. Writing them directly as JSONL would mean escaping every
newline and quote, which invites mistakes; a small marker format keeps the source readable and diffable
while the build scripts turn it into JSONL. A file is a sequence of records:

    @user                 <- a field marker: a line holding only "@" and a field name
    text of the field     <- any number of lines; leading and trailing blank lines are dropped
    @assistant
    more text
    @end                  <- closes the record

Lines before the first marker that start with "#" are comments. Malformed input raises
``RecordFormatError`` naming the file and line, so a typo never silently drops a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class RecordFormatError(ValueError):
    """A record file does not follow the marker format; the message names file and line."""


@dataclass
class Record:
    """One record: its fields in order, and the line where it starts (for error messages)."""

    path: Path
    line: int
    fields: list[tuple[str, str]] = field(default_factory=list)


def _close_field(record: Record, name: str, lines: list[str]) -> None:
    """Append a finished field, trimming the blank lines around its text."""
    record.fields.append((name, "\n".join(lines).strip("\n")))


def parse_records(path: Path, allowed: set[str]) -> list[Record]:
    """Read every record of ``path``; field names must be in ``allowed``.

    Fails loudly (file and line) on an unknown marker, text outside a record, an empty field or an
    unterminated record, because each of those would otherwise lose or corrupt a row.
    """
    records: list[Record] = []
    current: Record | None = None
    name: str | None = None
    buffer: list[str] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        marker = line[1:] if line.startswith("@") and line[1:].isidentifier() else None
        if marker is None:
            if name is not None:
                buffer.append(line)
            elif line.strip() and not (current is None and line.startswith("#")):
                raise RecordFormatError(f"{path}:{number}: text outside a field: {line[:60]!r}")
            continue
        if name is not None and current is not None:
            _close_field(current, name, buffer)
            if not current.fields[-1][1].strip():
                raise RecordFormatError(f"{path}:{number}: field @{name} is empty")
        buffer, name = [], None
        if marker == "end":
            if current is None or not current.fields:
                raise RecordFormatError(f"{path}:{number}: @end without an open record")
            records.append(current)
            current = None
            continue
        if marker not in allowed:
            expected = ", ".join(sorted(allowed))
            raise RecordFormatError(f"{path}:{number}: unknown field @{marker}; expected one of: {expected}")
        if current is None:
            current = Record(path=path, line=number)
        name = marker
    if current is not None:
        raise RecordFormatError(f"{path}:{current.line}: record is not closed with @end")
    return records
