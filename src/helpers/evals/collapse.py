"""Format collapse: how often a model answers with one of a narrow task's labels, whatever it was asked.

After fine-tuning on a True/False task, a model may start answering "True" to a translation request
or a math question. :func:`label_share` measures this on prompts of *other* tasks: the share of
responses that are one of the labels.

The rule, exactly: a response counts when, after

1. stripping surrounding whitespace and any leading quotes, asterisks, underscores, backticks or
   opening brackets (so ``**True**``, ``"False"`` and ``(True)`` count), and
2. ignoring case,

it begins with a label that is followed by the end of the text or by a character that is neither a
letter, a digit nor an underscore. So ``True``, ``false.``, ``TRUE!``, ``False, because ...`` and
``True\\n\\nThe text says ...`` count; ``Truly``, ``It is true``, ``Answer: True`` and an empty
response do not. A label may have several words
(``Not sure``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LEADING_NOISE = " \t\r\n\"'*_`([{"


def is_label(response: str, labels: Sequence[str] = ("True", "False")) -> bool:
    """True when ``response`` is, or starts with, one of ``labels`` as a whole word (rule above)."""
    if isinstance(labels, str):
        raise TypeError(f"labels must be a sequence of strings, not the string {labels!r}")
    wanted = [label.strip().casefold() for label in labels if label.strip()]
    if not wanted:
        raise ValueError("labels must contain at least one non-blank label")
    text = response.strip().lstrip(_LEADING_NOISE).casefold()
    return any(re.match(re.escape(label) + r"(?!\w)", text) for label in wanted)


def label_share(responses: Sequence[str], labels: Sequence[str] = ("True", "False")) -> float:
    """The share (0-1) of ``responses`` that are one of ``labels``, by the rule in the module docstring."""
    if not responses:
        raise ValueError("label_share needs at least one response")
    return sum(is_label(response, labels) for response in responses) / len(responses)
