"""Small Python function-writing tasks with reference solutions and hidden unit tests (a HumanEval analogue).

A task is a specification (signature plus a docstring with one worked example, and the same in plain
English as an instruction), a reference solution, and hidden tests *as data*: a
:class:`~helpers.sandbox.CallCases` of argument lists and the result each call must return.
Generated code is graded by running it in a separate process (``helpers.sandbox``) that gets
only the arguments; the expected results never leave the grading process, so code cannot read or
forge them (see the sandbox's docstring). Nothing in this module executes task code.

The expected values are computed by a second implementation of each task, kept here as ordinary
Python and often taking a different route, so checking that the reference passes its own tests
compares two implementations rather than one against itself.

Knobs of :func:`make_code_tasks`: ``n``, ``seed``, ``families`` (restrict to some families),
``n_tests`` (random hidden tests per task, on top of the fixed edge cases). About 30 families with
parameters give several hundred distinct specifications; see :func:`count_distinct_specs`.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from helpers.sandbox import CallCases, run_many
from helpers.synth.task import Score, Task

Args = tuple


@dataclass(frozen=True)
class CodeTask:
    """One task: what to write, a correct solution, and the tests that decide whether code is correct."""

    id: str
    family: str
    entry_point: str
    signature: str
    description: str
    prompt: str  # signature + docstring stub, HumanEval style
    instruction: str  # the same request as plain English, for chat-style fine-tuning
    reference: str
    tests: CallCases  # hidden tests as data: arguments and expected results of calls of entry_point

    def as_row(self) -> dict:
        """Plain JSON (the tests via :meth:`CallCases.as_dict`), for writing tasks to JSONL."""
        fields = ("id", "family", "entry_point", "signature", "description", "prompt", "instruction", "reference")
        return {**{k: getattr(self, k) for k in fields}, "tests": self.tests.as_dict()}


@dataclass
class _Spec:
    name: str
    params: str  # e.g. "xs: list[int]"
    returns: str  # e.g. "int"
    description: str
    body: str  # reference body, indented 4 spaces
    fn: Callable  # independent implementation that computes expected outputs
    gen: Callable[[random.Random], Args]  # random arguments
    edge: list[Args] = field(default_factory=list)

    @property
    def signature(self) -> str:
        return f"def {self.name}({self.params}) -> {self.returns}:"


def _code(*lines: str) -> str:
    """Lines of a function body, indented one level (keeps the reference solutions readable here)."""
    return "\n".join(f"    {line}" if line else "" for line in lines)


def _ints(rng: random.Random, lo: int = -10, hi: int = 30, max_len: int = 8, min_len: int = 0) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(min_len, max_len))]


def _words(rng: random.Random, max_words: int = 6) -> str:
    vocab = (
        "apple",
        "Tree",
        "river",
        "sky",
        "Stone",
        "bird",
        "a",
        "cloud",
        "tiger",
        "moon",
        "level",
        "noon",
        "Paper",
        "light",
        "go",
        "wave",
        "Deer",
        "ox",
    )
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, max_words)))


def _text(rng: random.Random) -> str:
    alphabet = string.ascii_letters + "   ,.!"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))


# --------------------------------------------------------------------------------------------------
# Families. Each takes an rng (to draw parameters) and returns a _Spec.
# --------------------------------------------------------------------------------------------------


def _sum_divisible(rng):
    k = rng.randint(2, 9)
    return _Spec(
        "sum_multiples",
        "xs: list[int]",
        "int",
        f"Return the sum of the numbers in xs that are divisible by {k}.",
        f"    return sum(x for x in xs if x % {k} == 0)",
        lambda xs: sum(x for x in xs if x % k == 0),
        lambda r: (_ints(r),),
        [([],), ([k, 1],)],
    )


def _count_above(rng):
    t = rng.randint(-5, 20)
    return _Spec(
        "count_above",
        "xs: list[int]",
        "int",
        f"Return how many numbers in xs are greater than {t}.",
        f"    return len([x for x in xs if x > {t}])",
        lambda xs: sum(1 for x in xs if x > t),
        lambda r: (_ints(r),),
        [([],), ([t],)],
    )


def _keep_parity(rng):
    even = rng.random() < 0.5
    word, rem = ("even", 0) if even else ("odd", 1)
    return _Spec(
        f"keep_{word}",
        "xs: list[int]",
        "list[int]",
        f"Return a list of the {word} numbers in xs, in their original order.",
        f"    return [x for x in xs if x % 2 == {rem}]",
        lambda xs: [x for x in xs if x % 2 == rem],
        lambda r: (_ints(r),),
        [([],), ([-3, -2, 0],)],
    )


def _transform_each(rng):
    k = rng.randint(2, 9)
    kind = rng.choice(("times", "plus", "square"))
    if kind == "times":
        desc, body, fn = f"multiplied by {k}", f"x * {k}", lambda x: x * k
    elif kind == "plus":
        desc, body, fn = f"increased by {k}", f"x + {k}", lambda x: x + k
    else:
        desc, body, fn = "squared", "x * x", lambda x: x * x
    return _Spec(
        "transform",
        "xs: list[int]",
        "list[int]",
        f"Return a new list in which each number of xs is {desc}.",
        f"    return [{body} for x in xs]",
        lambda xs: [fn(x) for x in xs],
        lambda r: (_ints(r),),
        [([],)],
    )


def _spread(rng):
    kind = rng.choice(("difference", "sum"))
    sign = "-" if kind == "difference" else "+"
    return _Spec(
        "extremes",
        "xs: list[int]",
        "int",
        f"Return the {kind} of the largest and the smallest number in xs "
        f"({'largest minus smallest' if kind == 'difference' else 'largest plus smallest'}). "
        "Return 0 if xs is empty.",
        _code("if not xs:", "    return 0", f"return max(xs) {sign} min(xs)"),
        lambda xs: 0 if not xs else (max(xs) - min(xs) if sign == "-" else max(xs) + min(xs)),
        lambda r: (_ints(r),),
        [([],), ([5],)],
    )


def _reverse_words(rng):
    if rng.random() < 0.5:
        return _Spec(
            "reverse_words",
            "s: str",
            "str",
            "Return s with the order of its words reversed. Words are separated by single spaces.",
            '    return " ".join(reversed(s.split(" ")))',
            lambda s: " ".join(s.split(" ")[::-1]),
            lambda r: (_words(r),),
            [("",), ("one",)],
        )
    return _Spec(
        "reverse_each_word",
        "s: str",
        "str",
        "Return s with the letters of every word reversed, keeping the words in their order. "
        "Words are separated by single spaces.",
        '    return " ".join(word[::-1] for word in s.split(" "))',
        lambda s: " ".join("".join(reversed(w)) for w in s.split(" ")),
        lambda r: (_words(r),),
        [("",)],
    )


def _count_letter(rng):
    c = rng.choice(string.ascii_lowercase)
    return _Spec(
        "count_letter",
        "s: str",
        "int",
        f"Return how many times the letter '{c}' appears in s, counting upper and lower case.",
        f"    return s.lower().count({c!r})",
        lambda s: sum(1 for ch in s if ch in (c, c.upper())),
        lambda r: (_text(r),),
        [("",), (c.upper() * 3,)],
    )


def _count_vowels(rng):
    vowels = rng.random() < 0.5
    word, test = ("vowels", "in") if vowels else ("consonants", "not in")
    return _Spec(
        f"count_{word}",
        "s: str",
        "int",
        f"Return the number of {word} in s. The vowels are a, e, i, o, u in either case; "
        "consonants are the other letters of the English alphabet.",
        f'    return sum(1 for ch in s.lower() if ch.isascii() and ch.isalpha() and ch {test} "aeiou")',
        lambda s: sum(1 for ch in s if ch in string.ascii_letters and (ch.lower() in "aeiou") == vowels),
        lambda r: (_text(r),),
        [("",), ("AEIOU xyz",)],
    )


def _palindrome(rng):
    spaces = rng.random() < 0.5
    if spaces:
        desc = "ignoring case and spaces"
        body = _code('t = s.replace(" ", "").lower()', "return t == t[::-1]")

        def fn(s):
            t = "".join(ch for ch in s.lower() if ch != " ")
            return t == "".join(reversed(t))
    else:
        desc = "ignoring case"
        body = _code("t = s.lower()", "return t == t[::-1]")

        def fn(s):
            return s.lower() == "".join(reversed(s.lower()))

    pool = ("level", "Noon", "never odd or even", "abc", "Step on no pets", "", "ab", "Race car", "x")
    return _Spec(
        "is_palindrome",
        "s: str",
        "bool",
        f"Return True if s reads the same forwards and backwards, {desc}; otherwise return False.",
        body,
        fn,
        lambda r: (r.choice(pool),),
        [("",), ("ab",), ("Aba",)],
    )


def _fizzbuzz(rng):
    a, b = rng.sample(range(2, 8), 2)
    wa, wb = rng.sample(("Fizz", "Buzz", "Bang", "Pop", "Zap", "Ding"), 2)
    body = _code(
        "out = []",
        "for i in range(1, n + 1):",
        '    word = ""',
        f"    if i % {a} == 0:",
        f"        word += {wa!r}",
        f"    if i % {b} == 0:",
        f"        word += {wb!r}",
        "    out.append(word or str(i))",
        "return out",
    )

    def fn(n):
        return [(wa if i % a == 0 else "") + (wb if i % b == 0 else "") or str(i) for i in range(1, n + 1)]

    return _Spec(
        "word_game",
        "n: int",
        "list[str]",
        f"Return a list of strings for the numbers 1 to n: '{wa}' for multiples of {a}, '{wb}' for "
        f"multiples of {b}, '{wa}{wb}' for multiples of both, and the number itself as a string "
        "otherwise.",
        body,
        fn,
        lambda r: (r.randint(1, 25),),
        [(0,), (a * b,)],
    )


def _product(rng):
    nonzero = rng.random() < 0.5
    return _Spec(
        "product",
        "xs: list[int]",
        "int",
        f"Return the product of the {'non-zero ' if nonzero else ''}numbers in xs (1 if there are none).",
        _code(
            "result = 1",
            "for x in xs:",
            f"    result *= x{' if x != 0 else 1' if nonzero else ''}",
            "return result",
        ),
        lambda xs: math.prod(x for x in xs if x != 0) if nonzero else math.prod(xs),
        lambda r: (_ints(r, -5, 9, 6),),
        [([],), ([0, 3],)],
    )


def _running(rng):
    if rng.random() < 0.5:
        body = _code(
            "out, total = [], 0", "for x in xs:", "    total += x", "    out.append(total)", "return out"
        )
        return _Spec(
            "running_total",
            "xs: list[int]",
            "list[int]",
            "Return the running totals of xs: element i is the sum of xs[0] through xs[i].",
            body,
            lambda xs: [sum(xs[: i + 1]) for i in range(len(xs))],
            lambda r: (_ints(r),),
            [([],)],
        )
    body = _code(
        "out = []", "for x in xs:", "    out.append(x if not out else max(out[-1], x))", "return out"
    )
    return _Spec(
        "running_max",
        "xs: list[int]",
        "list[int]",
        "Return the running maximum of xs: element i is the largest of xs[0] through xs[i].",
        body,
        lambda xs: [max(xs[: i + 1]) for i in range(len(xs))],
        lambda r: (_ints(r),),
        [([],)],
    )


def _unique(rng):
    if rng.random() < 0.5:
        body = _code(
            "seen, out = set(), []",
            "for x in xs:",
            "    if x not in seen:",
            "        seen.add(x)",
            "        out.append(x)",
            "return out",
        )
        return _Spec(
            "unique_in_order",
            "xs: list[int]",
            "list[int]",
            "Return the numbers of xs without repeats, keeping the first occurrence of each in order.",
            body,
            lambda xs: list(dict.fromkeys(xs)),
            lambda r: (_ints(r, 0, 6, 10),),
            [([],)],
        )
    return _Spec(
        "sorted_unique",
        "xs: list[int]",
        "list[int]",
        "Return the distinct numbers of xs sorted from smallest to largest.",
        "    return sorted(set(xs))",
        lambda xs: sorted(dict.fromkeys(xs)),
        lambda r: (_ints(r, 0, 6, 10),),
        [([],)],
    )


def _clamp(rng):
    lo = rng.randint(0, 5)
    hi = lo + rng.randint(3, 15)
    return _Spec(
        "clamp_all",
        "xs: list[int]",
        "list[int]",
        f"Return a list in which each number of xs is limited to the range {lo} to {hi}: numbers below "
        f"{lo} become {lo} and numbers above {hi} become {hi}.",
        f"    return [min(max(x, {lo}), {hi}) for x in xs]",
        lambda xs: [lo if x < lo else hi if x > hi else x for x in xs],
        lambda r: (_ints(r),),
        [([],)],
    )


def _recase(rng):
    if rng.random() < 0.5:
        return _Spec(
            "capitalize_words",
            "s: str",
            "str",
            "Return s with the first character of every word in upper case and the rest of the word in "
            "lower case. Words are separated by single spaces.",
            '    return " ".join(w[:1].upper() + w[1:].lower() for w in s.split(" "))',
            lambda s: " ".join((w[0].upper() + w[1:].lower()) if w else w for w in s.split(" ")),
            lambda r: (_words(r),),
            [("",)],
        )
    return _Spec(
        "swap_case",
        "s: str",
        "str",
        "Return s with every upper-case letter made lower case and every lower-case letter made upper case.",
        "    return s.swapcase()",
        lambda s: "".join(ch.lower() if ch.isupper() else ch.upper() for ch in s),
        lambda r: (_text(r),),
        [("",)],
    )


def _count_long_words(rng):
    k = rng.randint(2, 6)
    return _Spec(
        "count_long_words",
        "s: str",
        "int",
        f"Return the number of words in s that have more than {k} characters. Words are separated by spaces.",
        f"    return sum(1 for w in s.split() if len(w) > {k})",
        lambda s: len([w for w in s.split() if len(w) > k]),
        lambda r: (_words(r),),
        [("",)],
    )


def _digits(rng):
    kind = rng.choice(("sum", "product", "count", "count_d"))
    d = rng.randint(0, 9)
    if kind == "sum":
        desc, body, fn = (
            "the sum of the digits",
            "    return sum(int(c) for c in str(n))",
            lambda n: sum(map(int, str(n))),
        )
    elif kind == "product":
        desc, body, fn = (
            "the product of the digits",
            _code("result = 1", "for c in str(n):", "    result *= int(c)", "return result"),
            lambda n: math.prod(map(int, str(n))),
        )
    elif kind == "count":
        desc, body, fn = "the number of digits", "    return len(str(n))", lambda n: len(str(n))
    else:
        desc, body, fn = (
            f"how many times the digit {d} appears in the digits",
            f"    return str(n).count('{d}')",
            lambda n: [int(c) for c in str(n)].count(d),
        )
    return _Spec(
        f"digit_{kind}",
        "n: int",
        "int",
        f"Return {desc} of the non-negative integer n.",
        body,
        fn,
        lambda r: (r.randint(0, 10 ** r.randint(1, 7)),),
        [(0,), (d,)],
    )


def _two_term_sequence(rng):
    a, b = rng.randint(0, 5), rng.randint(1, 5)
    body = _code(f"x, y = {a}, {b}", "for _ in range(n):", "    x, y = y, x + y", "return x")

    def fn(n):
        seq = [a, b]
        while len(seq) <= n:
            seq.append(seq[-1] + seq[-2])
        return seq[n]

    return _Spec(
        "sequence_term",
        "n: int",
        "int",
        f"A sequence starts with {a}, {b} and every later term is the sum of the two terms before it. "
        "Return the term at position n, counting from 0.",
        body,
        fn,
        lambda r: (r.randint(0, 20),),
        [(0,), (1,)],
    )


def _gcd_lcm(rng):
    if rng.random() < 0.5:
        return _Spec(
            "greatest_common_divisor",
            "a: int, b: int",
            "int",
            "Return the greatest common divisor of the positive integers a and b.",
            _code("while b:", "    a, b = b, a % b", "return a"),
            math.gcd,
            lambda r: (r.randint(1, 200), r.randint(1, 200)),
            [(7, 7), (1, 9)],
        )
    return _Spec(
        "least_common_multiple",
        "a: int, b: int",
        "int",
        "Return the least common multiple of the positive integers a and b.",
        _code("x, y = a, b", "while y:", "    x, y = y, x % y", "return a * b // x"),
        lambda a, b: a * b // math.gcd(a, b),
        lambda r: (r.randint(1, 60), r.randint(1, 60)),
        [(4, 6)],
    )


def _join(rng):
    sep = rng.choice((", ", "-", " | ", "+", "::", "/", " and ", "_"))
    upper = rng.random() < 0.3
    return _Spec(
        "join_words",
        "words: list[str]",
        "str",
        f"Return the strings in words {'converted to upper case and ' if upper else ''}joined "
        f"together with {sep!r} between them.",
        f"    return {sep!r}.join({'w.upper() for w in words' if upper else 'words'})",
        lambda words: sep.join(w.upper() if upper else w for w in words),
        lambda r: (_words(r).split(" "),),
        [([],), (["one"],)],
    )


def _chunk(rng):
    k = rng.randint(2, 5)
    return _Spec(
        "chunk",
        "xs: list[int]",
        "list[list[int]]",
        f"Split xs into consecutive pieces of {k} items and return the list of pieces; the last piece "
        "may be shorter.",
        f"    return [xs[i:i + {k}] for i in range(0, len(xs), {k})]",
        lambda xs: [list(xs[i : i + k]) for i in range(0, len(xs), k)],
        lambda r: (_ints(r, max_len=11),),
        [([],), (list(range(k)),)],
    )


def _word_map(rng):
    if rng.random() < 0.5:
        body = _code(
            "counts = {}", "for w in s.split():", "    counts[w] = counts.get(w, 0) + 1", "return counts"
        )
        return _Spec(
            "word_counts",
            "s: str",
            "dict[str, int]",
            "Return a dictionary that maps each distinct word of s (split on whitespace, case-sensitive) "
            "to the number of times it occurs.",
            body,
            lambda s: {w: s.split().count(w) for w in s.split()},
            lambda r: (_words(r, 8),),
            [("",)],
        )
    return _Spec(
        "word_lengths",
        "s: str",
        "dict[str, int]",
        "Return a dictionary that maps each distinct word of s (split on whitespace) to its length.",
        "    return {w: len(w) for w in s.split()}",
        lambda s: dict((w, len(w)) for w in s.split()),
        lambda r: (_words(r, 8),),
        [("",)],
    )


def _caesar(rng):
    k = rng.randint(1, 25)
    body = _code(
        "out = []",
        "for ch in s:",
        "    if 'a' <= ch <= 'z':",
        f"        out.append(chr((ord(ch) - ord('a') + {k}) % 26 + ord('a')))",
        "    else:",
        "        out.append(ch)",
        "return ''.join(out)",
    )
    lower = string.ascii_lowercase
    table = str.maketrans(lower, lower[k:] + lower[:k])
    return _Spec(
        "shift_letters",
        "s: str",
        "str",
        f"Shift every lower-case letter of s forward by {k} places in the alphabet, wrapping around from "
        "z to a, and leave all other characters unchanged. Return the result.",
        body,
        lambda s: s.translate(table),
        lambda r: (_text(r),),
        [("",), ("xyz",)],
    )


def _sum_powers(rng):
    kind = rng.choice(("squares", "cubes", "absolute values"))
    expr = {"squares": "x * x", "cubes": "x * x * x", "absolute values": "abs(x)"}[kind]
    fn = {
        "squares": lambda x: x**2,
        "cubes": lambda x: x**3,
        "absolute values": lambda x: -x if x < 0 else x,
    }[kind]
    return _Spec(
        "sum_of",
        "xs: list[int]",
        "int",
        f"Return the sum of the {kind} of the numbers in xs.",
        f"    return sum({expr} for x in xs)",
        lambda xs: sum(fn(x) for x in xs),
        lambda r: (_ints(r),),
        [([],)],
    )


def _find_index(rng):
    first = rng.random() < 0.5
    which = "first" if first else "last"
    loop = "for i, x in enumerate(xs):" if first else "for i in range(len(xs) - 1, -1, -1):"
    value = "x" if first else "xs[i]"
    body = _code(loop, f"    if {value} == target:", "        return i", "return -1")

    def fn(xs, target):
        hits = [i for i, x in enumerate(xs) if x == target]
        return -1 if not hits else (hits[0] if first else hits[-1])

    return _Spec(
        f"{which}_index",
        "xs: list[int], target: int",
        "int",
        f"Return the index of the {which} occurrence of target in xs, or -1 if target is not in xs.",
        body,
        fn,
        lambda r: (_ints(r, 0, 5, 9), r.randint(0, 6)),
        [([], 1), ([2, 2], 2)],
    )


def _merge(rng):
    desc = rng.random() < 0.5
    order = "largest to smallest" if desc else "smallest to largest"
    return _Spec(
        "merge_lists",
        "a: list[int], b: list[int]",
        "list[int]",
        f"Return one list holding every number of a and of b (repeats included), sorted from {order}.",
        f"    return sorted(a + b{', reverse=True' if desc else ''})",
        lambda a, b: sorted([*a, *b], key=lambda x: -x if desc else x),
        lambda r: (sorted(_ints(r)), sorted(_ints(r))),
        [([], []), ([1], [])],
    )


def _neighbours(rng):
    if rng.random() < 0.5:
        return _Spec(
            "differences",
            "xs: list[int]",
            "list[int]",
            "Return the list of differences between consecutive numbers of xs: element i is "
            "xs[i + 1] - xs[i].",
            "    return [b - a for a, b in zip(xs, xs[1:])]",
            lambda xs: [xs[i + 1] - xs[i] for i in range(len(xs) - 1)],
            lambda r: (_ints(r),),
            [([],), ([4],)],
        )
    return _Spec(
        "neighbour_sums",
        "xs: list[int]",
        "list[int]",
        "Return the list of sums of consecutive numbers of xs: element i is xs[i] + xs[i + 1].",
        "    return [a + b for a, b in zip(xs, xs[1:])]",
        lambda xs: [xs[i] + xs[i + 1] for i in range(len(xs) - 1)],
        lambda r: (_ints(r),),
        [([],), ([4],)],
    )


def _count_pairs(rng):
    t = rng.randint(4, 15)
    body = _code(
        "count = 0",
        "for i in range(len(xs)):",
        "    for j in range(i + 1, len(xs)):",
        f"        if xs[i] + xs[j] == {t}:",
        "            count += 1",
        "return count",
    )
    return _Spec(
        "count_pairs",
        "xs: list[int]",
        "int",
        f"Return how many pairs of positions i < j satisfy xs[i] + xs[j] == {t}.",
        body,
        lambda xs: sum(1 for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[i] + xs[j] == t),
        lambda r: (_ints(r, 0, t, 8),),
        [([],), ([t // 2, t - t // 2],)],
    )


def _second(rng):
    largest = rng.random() < 0.5
    which = "largest" if largest else "smallest"
    body = _code(
        f"values = sorted(set(xs){', reverse=True' if largest else ''})",
        "return values[1] if len(values) > 1 else None",
    )

    def fn(xs):
        distinct = sorted(dict.fromkeys(xs))
        if len(distinct) < 2:
            return None
        return distinct[-2] if largest else distinct[1]

    return _Spec(
        f"second_{which}",
        "xs: list[int]",
        "int | None",
        f"Return the second {which} distinct number in xs, or None if xs has fewer than two distinct "
        "numbers.",
        body,
        fn,
        lambda r: (_ints(r, 0, 9),),
        [([],), ([3, 3],), ([1, 2],)],
    )


def _multiples(rng):
    k = rng.randint(2, 12)
    return _Spec(
        "first_multiples",
        "n: int",
        "list[int]",
        f"Return a list of the first n positive multiples of {k}, in increasing order.",
        f"    return [{k} * i for i in range(1, n + 1)]",
        lambda n: list(range(k, k * n + 1, k)),
        lambda r: (r.randint(1, 12),),
        [(0,), (1,)],
    )


def _filter_strings(rng):
    letter = rng.choice("abcdegilmnoprstw")
    starts = rng.random() < 0.5
    where = "start" if starts else "end"
    method = "startswith" if starts else "endswith"
    return _Spec(
        f"words_that_{where}_with",
        "words: list[str]",
        "list[str]",
        f"Return the strings of words that {where} with the lower-case letter '{letter}', in their "
        "original order.",
        f"    return [w for w in words if w.{method}({letter!r})]",
        lambda words: [w for w in words if w and w[0 if starts else -1] == letter],
        lambda r: (_words(r, 8).split(" "),),
        [([],), ([letter, ""],)],
    )


def _count_range(rng):
    lo = rng.randint(-5, 5)
    hi = lo + rng.randint(2, 12)
    return _Spec(
        "count_between",
        "xs: list[int]",
        "int",
        f"Return how many numbers in xs lie between {lo} and {hi}, both included.",
        f"    return sum(1 for x in xs if {lo} <= x <= {hi})",
        lambda xs: len([x for x in xs if lo <= x and x <= hi]),
        lambda r: (_ints(r),),
        [([],), ([lo, hi],)],
    )


FAMILIES: dict[str, Callable[[random.Random], _Spec]] = {
    "sum_divisible": _sum_divisible,
    "count_above": _count_above,
    "keep_parity": _keep_parity,
    "transform_each": _transform_each,
    "spread": _spread,
    "reverse_words": _reverse_words,
    "count_letter": _count_letter,
    "count_vowels": _count_vowels,
    "palindrome": _palindrome,
    "fizzbuzz": _fizzbuzz,
    "product": _product,
    "running": _running,
    "unique": _unique,
    "clamp": _clamp,
    "recase": _recase,
    "count_long_words": _count_long_words,
    "digits": _digits,
    "two_term_sequence": _two_term_sequence,
    "gcd_lcm": _gcd_lcm,
    "join": _join,
    "chunk": _chunk,
    "word_map": _word_map,
    "caesar": _caesar,
    "sum_powers": _sum_powers,
    "find_index": _find_index,
    "merge": _merge,
    "neighbours": _neighbours,
    "count_pairs": _count_pairs,
    "second": _second,
    "multiples": _multiples,
    "filter_strings": _filter_strings,
    "count_range": _count_range,
}


def _call(name: str, args: Args) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def _build(spec: _Spec, family: str, rng: random.Random, n_tests: int, task_id: str) -> CodeTask:
    example = spec.gen(rng)
    cases = list(spec.edge)
    attempts = 0
    while len(cases) < len(spec.edge) + n_tests and attempts < 20 * n_tests:
        attempts += 1
        args = spec.gen(rng)
        if args not in cases and args != example:
            cases.append(args)
    tests = CallCases(spec.name, tuple((args, spec.fn(*args)) for args in cases))
    docstring = _code(
        '"""' + spec.description, "", f">>> {_call(spec.name, example)}", repr(spec.fn(*example)), '"""'
    )
    prompt = f"{spec.signature}\n{docstring}\n"
    instruction = (
        f"Write a Python function `{spec.signature[4:-1]}`. {spec.description}\n"
        f"For example, `{_call(spec.name, example)}` should return `{spec.fn(*example)!r}`."
    )
    return CodeTask(
        id=task_id,
        family=family,
        entry_point=spec.name,
        signature=spec.signature,
        description=spec.description,
        prompt=prompt,
        instruction=instruction,
        reference=f"{spec.signature}\n{spec.body}\n",
        tests=tests,
    )


def make_code_tasks(
    n: int,
    seed: int = 0,
    families: Sequence[str] | None = None,
    n_tests: int = 5,
) -> list[CodeTask]:
    """``n`` tasks with distinct specifications, families drawn uniformly, all decided by ``seed``."""
    names = list(FAMILIES) if families is None else list(families)
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {sorted(FAMILIES)}")
    rng = random.Random(seed)
    tasks: list[CodeTask] = []
    seen: set[tuple[str, str]] = set()
    attempts = 0
    while len(tasks) < n:
        attempts += 1
        if attempts > 50 * n + 500:
            raise ValueError(f"only {len(tasks)} distinct tasks found for n={n}; use more families")
        family = rng.choice(names)
        spec = FAMILIES[family](rng)
        if (spec.signature, spec.description) in seen:
            continue
        seen.add((spec.signature, spec.description))
        tasks.append(_build(spec, family, rng, n_tests, f"code-{seed}-{len(tasks)}"))
    return tasks


def count_distinct_specs(samples: int = 20000, seed: int = 0) -> int:
    """Estimate how many distinct specifications the families can produce (by sampling parameters)."""
    rng = random.Random(seed)
    found = set()
    for _ in range(samples):
        spec = FAMILIES[rng.choice(list(FAMILIES))](rng)
        found.add((spec.signature, spec.description))
    return len(found)


# ---------------------------------------------------------------- grading

_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


def extract_code(text: str) -> str:
    """The code in a model's answer.

    With Markdown fences, the first block tagged python/py (or untagged) is returned, else the first
    block of any tag; a block whose closing fence never came (generation cut off) runs to the end of
    the text. Without fences the whole text is taken as code.
    """
    blocks = _FENCE_RE.findall(text)
    if not blocks:
        return text
    for tag, body in blocks:
        if tag.lower() in _PYTHON_TAGS:
            return body
    return blocks[0][1]


class PythonTask(Task):
    """Write a function from a plain-English request; the score is the share of hidden test calls it gets
    right in the sandbox, ``passed`` all of them. Answers may wrap the code in Markdown fences."""

    name = "code"

    def __init__(self, families: Sequence[str] | None = None, n_tests: int = 5, *, timeout_s: float = 5.0,
                 memory_mb: int = 512, workers: int = 2) -> None:
        self.families, self.n_tests = families, n_tests
        self.limits = {"timeout_s": timeout_s, "memory_mb": memory_mb, "workers": workers}

    def rows(self, n: int, seed: int = 0) -> list[dict]:
        tasks = make_code_tasks(n, seed, self.families, self.n_tests)
        return [{**task.as_row(), "prompt": task.instruction} for task in tasks]

    def score(self, row: dict, answer: str) -> Score:
        return self.score_many([row], [answer])[0]

    def score_many(self, rows: Sequence[dict], answers: Sequence[str]) -> list[Score]:
        if len(rows) != len(answers):
            raise ValueError(f"{len(rows)} rows but {len(answers)} answers")
        tests = [row["tests"] if isinstance(row["tests"], CallCases) else CallCases.from_dict(row["tests"])
                 for row in rows]
        results = run_many([extract_code(answer) for answer in answers], tests, **self.limits)
        return [Score(r.cases_passed / r.cases_total if r.cases_total else float(r.passed), r.passed,
                      {"status": r.status}) for r in results]
