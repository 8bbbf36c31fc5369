"""Multi-step integer word problems in the GSM8K solution format, with an exact grader.

A problem tells a short story about a quantity that changes step by step (buying boxes of items,
giving some away, doubling, keeping one of several equal parts). Solutions annotate every calculation
as ``<<expr=value>>`` and end with ``#### answer``, so the answer is graded by exact match and every
intermediate step can be re-computed (the filter used by rejection-sampling fine-tuning, RFT).

Each problem carries several *valid* solution paths that differ in how they group the arithmetic
(step by step; products first, then one combined sum per stretch of additions; gains and losses
totalled separately; products written inline). They give distinct equation lists, mimicking the
distinct reasoning paths RFT collects.

Knobs of :func:`make_problems`: ``n``, ``seed``, ``n_steps`` (min, max operations after the start),
``max_value`` (start value and operands), ``max_total`` (cap on any intermediate value). Every
intermediate and final value is a positive integer; division only happens when it is exact.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass
from fractions import Fraction

from helpers.synth.task import Score, Task

_NAMES = (
    "Maya",
    "Tom",
    "Aisha",
    "Lucas",
    "Priya",
    "Noah",
    "Elena",
    "Omar",
    "Grace",
    "Kenji",
    "Sofia",
    "Liam",
    "Zara",
    "Mateo",
    "Hana",
    "Ivan",
    "Chloe",
    "Diego",
    "Amara",
    "Felix",
    "Nina",
    "Ravi",
    "Lena",
    "Sam",
    "Yusuf",
    "Clara",
    "Jonas",
    "Mei",
    "Oscar",
    "Leila",
)

# items, container (singular, plural), verbs for gaining, verbs for losing
_SCENARIOS = (
    (
        "stickers",
        ("sheet", "sheets"),
        ("buys", "is given", "collects"),
        ("gives away", "uses", "trades away"),
    ),
    ("cookies", ("tray", "trays"), ("bakes", "buys"), ("eats", "sells", "gives away")),
    ("apples", ("crate", "crates"), ("picks", "buys", "harvests"), ("sells", "gives away", "uses")),
    ("books", ("box", "boxes"), ("buys", "receives", "orders"), ("donates", "lends out", "sells")),
    ("marbles", ("bag", "bags"), ("wins", "buys", "finds"), ("loses", "gives away", "trades away")),
    ("cards", ("pack", "packs"), ("buys", "gets", "wins"), ("trades away", "gives away", "sells")),
    ("seashells", ("bucket", "buckets"), ("collects", "finds", "gathers"), ("gives away", "loses", "sells")),
    ("pencils", ("pack", "packs"), ("buys", "gets", "receives"), ("lends out", "loses", "gives away")),
    ("coins", ("jar", "jars"), ("saves", "finds", "earns"), ("spends", "gives away", "loses")),
    ("eggs", ("carton", "cartons"), ("buys", "collects", "gets"), ("uses", "sells", "breaks")),
    ("beads", ("box", "boxes"), ("buys", "gets", "receives"), ("uses", "loses", "gives away")),
    ("toy cars", ("case", "cases"), ("buys", "wins", "receives"), ("gives away", "sells", "loses")),
)
_CONNECTORS = ("", "Then ", "Later, ", "After that, ", "Next, ")
_STARTS = ("{name} has {x} {items}.", "{name} starts with {x} {items}.", "At first, {name} owns {x} {items}.")
_QUESTIONS = (
    "How many {items} does {name} have now?",
    "How many {items} does {name} have at the end?",
    "What is the final number of {items} that {name} has?",
)
_FRACTION_WORDS = {2: "half", 3: "third", 4: "quarter", 5: "fifth", 6: "sixth"}
_MULTIPLY_WORDS = {2: "doubles", 3: "triples"}
_ADDITIVE = ("add", "sub", "add_groups", "sub_groups")


@dataclass(frozen=True)
class MathProblem:
    """A word problem, its integer answer and one or more valid solutions (the first is the reference)."""

    id: str
    question: str
    answer: int
    solutions: tuple[str, ...]
    n_steps: int

    @property
    def solution(self) -> str:
        return self.solutions[0]

    def as_row(self) -> dict:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "solution": self.solution,
            "solutions": list(self.solutions),
            "n_steps": self.n_steps,
        }


@dataclass(frozen=True)
class _Op:
    kind: str  # add, sub, add_groups, sub_groups, mul, div
    a: int  # amount (add/sub), count of containers (groups), factor (mul), divisor (div)
    m: int = 0  # items per container (groups only)

    @property
    def amount(self) -> int:
        return self.a * self.m if self.kind.endswith("groups") else self.a


def _apply(value: int, op: _Op) -> int:
    if op.kind in ("add", "add_groups"):
        return value + op.amount
    if op.kind in ("sub", "sub_groups"):
        return value - op.amount
    if op.kind == "mul":
        return value * op.a
    return value // op.a


def _pick_op(rng: random.Random, value: int, max_value: int, max_total: int) -> _Op:
    """A random operation that keeps the running value a positive integer no larger than max_total."""
    while True:
        kind = rng.choices(("add_groups", "add", "sub", "sub_groups", "mul", "div"), (5, 4, 4, 2, 2, 3))[0]
        if kind == "add":
            op = _Op("add", rng.randint(2, max_value))
        elif kind == "sub" and value > 2:
            op = _Op("sub", rng.randint(1, min(max_value, value - 1)))
        elif kind in ("add_groups", "sub_groups"):
            op = _Op(kind, rng.randint(2, 6), rng.randint(2, max(3, max_value // 3)))
        elif kind == "mul":
            op = _Op("mul", rng.randint(2, 5))
        elif kind == "div":
            divisors = [d for d in _FRACTION_WORDS if value % d == 0 and value // d >= 2]
            if not divisors:
                continue
            op = _Op("div", rng.choice(divisors))
        else:
            continue
        if 1 <= _apply(value, op) <= max_total:
            return op


def _op_sentence(rng: random.Random, op: _Op, name: str, scenario: tuple) -> str:
    items, (cont, conts), gains, losses = scenario
    conn = rng.choice(_CONNECTORS)
    if op.kind == "add_groups":
        text = rng.choice(
            (
                f"{conn}{name} {rng.choice(gains)} {op.a} {conts} of {items}, with {op.m} {items} "
                f"in each {cont}.",
                f"{conn}{name} {rng.choice(gains)} {op.a} {conts} that each hold {op.m} {items}.",
            )
        )
    elif op.kind == "sub_groups":
        text = (
            f"{conn}{name} {rng.choice(losses)} {op.a} {conts} of {items} with {op.m} {items} in each {cont}."
        )
    elif op.kind == "add":
        text = rng.choice(
            (
                f"{conn}{name} {rng.choice(gains)} {op.a} more {items}.",
                f"{conn}{name} {rng.choice(gains)} another {op.a} {items}.",
            )
        )
    elif op.kind == "sub":
        text = rng.choice(
            (
                f"{conn}{name} {rng.choice(losses)} {op.a} {items}.",
                f"{conn}{name} {rng.choice(losses)} {op.a} of the {items}.",
            )
        )
    elif op.kind == "mul":
        options = [f"{conn}{name} ends up with {op.a} times as many {items} as before."]
        if op.a in _MULTIPLY_WORDS:
            options.append(f"{conn}the number of {items} that {name} has {_MULTIPLY_WORDS[op.a]}.")
        text = rng.choice(options)
    else:
        text = rng.choice(
            (
                f"{conn}{name} splits the {items} into {op.a} equal groups and keeps only one group.",
                f"{conn}{name} keeps one {_FRACTION_WORDS[op.a]} of the {items} and gives the rest away.",
            )
        )
    return text[0].upper() + text[1:]


def _eq(expr: str, value: int) -> str:
    return f"{expr} = <<{expr}={value}>>{value}"


def _segments(ops: list[_Op]) -> list[list[_Op]]:
    """Split the operations into maximal runs of additive steps and single multiplicative steps."""
    out: list[list[_Op]] = []
    for op in ops:
        if op.kind in _ADDITIVE and out and out[-1][0].kind in _ADDITIVE:
            out[-1].append(op)
        else:
            out.append([op])
    return out


def _multiplicative_line(value: int, op: _Op, items: str) -> tuple[str, int]:
    new = _apply(value, op)
    if op.kind == "mul":
        return f"Multiplying by {op.a}: {_eq(f'{value}*{op.a}', new)} {items}.", new
    return f"One of {op.a} equal groups: {_eq(f'{value}/{op.a}', new)} {items}.", new


def _path_step_by_step(start: int, ops: list[_Op], items: str) -> list[str]:
    lines, value = [], start
    for op in ops:
        new = _apply(value, op)
        if op.kind in ("add_groups", "sub_groups"):
            lines.append(f"{op.a} groups of {op.m} are {_eq(f'{op.a}*{op.m}', op.amount)} {items}.")
            if op.kind == "add_groups":
                lines.append(f"Adding them gives {_eq(f'{value}+{op.amount}', new)} {items}.")
            else:
                lines.append(f"Taking them away leaves {_eq(f'{value}-{op.amount}', new)} {items}.")
        elif op.kind == "add":
            lines.append(f"Adding {op.a} gives {_eq(f'{value}+{op.a}', new)} {items}.")
        elif op.kind == "sub":
            lines.append(f"Removing {op.a} leaves {_eq(f'{value}-{op.a}', new)} {items}.")
        else:
            lines.append(_multiplicative_line(value, op, items)[0])
        value = new
    return lines


def _signed_terms(segment: list[_Op], inline_products: bool) -> list[tuple[str, str]]:
    terms = []
    for op in segment:
        sign = "+" if op.kind in ("add", "add_groups") else "-"
        if op.kind.endswith("groups"):
            terms.append((sign, f"{op.a}*{op.m}" if inline_products else str(op.amount)))
        else:
            terms.append((sign, str(op.a)))
    return terms


def _group_lines(segment: list[_Op], items: str) -> list[str]:
    """One line per "k groups of m" step of a segment, computing its product before it is used."""
    return [f"{op.a} groups of {op.m} are {_eq(f'{op.a}*{op.m}', op.amount)} {items}."
            for op in segment if op.kind.endswith("groups")]


def _path_combined(start: int, ops: list[_Op], items: str, inline_products: bool) -> list[str]:
    """Per run of additions and subtractions, one combined expression (products first or inline)."""
    lines, value = [], start
    for segment in _segments(ops):
        if segment[0].kind not in _ADDITIVE:
            line, value = _multiplicative_line(value, segment[0], items)
            lines.append(line)
            continue
        if not inline_products:
            lines += _group_lines(segment, items)
        new = value
        for op in segment:
            new = _apply(new, op)
        expr = str(value) + "".join(s + t for s, t in _signed_terms(segment, inline_products))
        lines.append(f"Putting these changes together: {_eq(expr, new)} {items}.")
        value = new
    return lines


def _path_totals(start: int, ops: list[_Op], items: str) -> list[str]:
    """Per run of additions and subtractions, total the gains and the losses first, then combine."""
    lines, value = [], start
    for segment in _segments(ops):
        if segment[0].kind not in _ADDITIVE:
            line, value = _multiplicative_line(value, segment[0], items)
            lines.append(line)
            continue
        lines += _group_lines(segment, items)
        gains = [op.amount for op in segment if op.kind in ("add", "add_groups")]
        losses = [op.amount for op in segment if op.kind in ("sub", "sub_groups")]
        expr = str(value)
        for label, amounts, sign in (("gained", gains, "+"), ("lost", losses, "-")):
            if len(amounts) > 1:
                total = sum(amounts)
                lines.append(f"In total {label}: {_eq('+'.join(map(str, amounts)), total)} {items}.")
                expr += f"{sign}{total}"
            elif amounts:
                expr += f"{sign}{amounts[0]}"
        new = value + sum(gains) - sum(losses)
        lines.append(f"So the count becomes {_eq(expr, new)} {items}.")
        value = new
    return lines


def _solutions(start: int, ops: list[_Op], answer: int, items: str) -> tuple[str, ...]:
    """All solution paths, keeping only those with a distinct equation list (the first is the reference)."""
    paths = [
        _path_step_by_step(start, ops, items),
        _path_combined(start, ops, items, inline_products=False),
        _path_totals(start, ops, items),
        _path_combined(start, ops, items, inline_products=True),
    ]
    out, seen = [], set()
    for lines in paths:
        text = "\n".join([*lines, f"#### {answer}"])
        key = equation_list(text)
        if key not in seen:
            seen.add(key)
            out.append(text)
    return tuple(out)


def make_problem(
    rng: random.Random, n_steps: int, max_value: int, max_total: int, problem_id: str
) -> MathProblem:
    """One problem with exactly ``n_steps`` operations."""
    scenario = rng.choice(_SCENARIOS)
    items = scenario[0]
    name = rng.choice(_NAMES)
    start = rng.randint(2, max_value)
    ops, value = [], start
    for _ in range(n_steps):
        op = _pick_op(rng, value, max_value, max_total)
        ops.append(op)
        value = _apply(value, op)
    sentences = [rng.choice(_STARTS).format(name=name, x=start, items=items)]
    sentences += [_op_sentence(rng, op, name, scenario) for op in ops]
    sentences.append(rng.choice(_QUESTIONS).format(name=name, items=items))
    return MathProblem(
        id=problem_id,
        question=" ".join(sentences),
        answer=value,
        solutions=_solutions(start, ops, value, items),
        n_steps=n_steps,
    )


def make_problems(
    n: int,
    seed: int = 0,
    n_steps: tuple[int, int] = (2, 4),
    max_value: int = 50,
    max_total: int = 999,
) -> list[MathProblem]:
    """``n`` problems with distinct question texts (so train/test splits cannot leak by duplication)."""
    if not 1 <= n_steps[0] <= n_steps[1]:
        raise ValueError(f"n_steps must be (min, max) with 1 <= min <= max, got {n_steps}")
    if max_value < 3 or max_total < 4 * max_value:
        raise ValueError("need max_value >= 3 and max_total >= 4 * max_value")
    rng = random.Random(seed)
    problems: list[MathProblem] = []
    seen: set[str] = set()
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 20 * n + 100:
            raise ValueError(f"could not make {n} distinct problems with these knobs")
        problem = make_problem(
            rng, rng.randint(*n_steps), max_value, max_total, f"math-{seed}-{len(problems)}"
        )
        if problem.question not in seen:
            seen.add(problem.question)
            problems.append(problem)
    return problems


# --------------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------------

_ANSWER_RE = re.compile(r"####\s*(-?[\d,]*\d(?:\.\d+)?)")
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_STEP_RE = re.compile(r"<<([^<>]*)>>")


def _to_int(token: str) -> int | None:
    value = Fraction(token.replace(",", ""))
    return int(value) if value.denominator == 1 else None


def extract_answer(text: str) -> int | None:
    """The integer after ``####``, else the last number in the text; None when that is not an integer."""
    match = _ANSWER_RE.search(text)
    if match:
        return _to_int(match.group(1))
    numbers = _NUMBER_RE.findall(text)
    return _to_int(numbers[-1]) if numbers else None


_BINOPS = {
    ast.Add: lambda x, y: x + y,
    ast.Sub: lambda x, y: x - y,
    ast.Mult: lambda x, y: x * y,
    ast.Div: lambda x, y: x / y,
}


def safe_eval(expr: str) -> Fraction:
    """Evaluate integer/decimal arithmetic with + - * / and parentheses exactly, without ``eval``.

    Anything else (names, calls, powers, floor division) raises ValueError, as does division by zero.
    """

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = walk(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ValueError("division by zero")
            return _BINOPS[type(node.op)](left, right)
        raise ValueError(f"unsupported element {type(node).__name__} in {expr!r}")

    if len(expr) > 200:
        raise ValueError("expression too long")
    try:
        tree = ast.parse(expr.replace(",", "").strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {expr!r}") from exc
    return walk(tree)


def check_steps(solution: str) -> bool:
    """True when the solution has at least one ``<<expr=value>>`` step and every step computes correctly."""
    steps = _STEP_RE.findall(solution)
    if not steps:
        return False
    for step in steps:
        expr, sep, value = step.rpartition("=")
        if not sep or not expr.strip():
            return False
        try:
            if safe_eval(expr) != safe_eval(value):
                return False
        except ValueError:
            return False
    return True


def equation_list(solution: str) -> tuple[str, ...]:
    """The ``<<...>>`` contents with whitespace removed: the key RFT deduplicates reasoning paths by."""
    return tuple(re.sub(r"\s+", "", s) for s in _STEP_RE.findall(solution))


def is_correct(solution: str, answer: int) -> bool:
    """The RFT acceptance test: the final answer matches and every annotated step is right."""
    return extract_answer(solution) == answer and check_steps(solution)


class MathTask(Task):
    """Word problems graded by their final answer (``#### n``, else the last number); with
    ``check_steps=True`` every ``<<a*b=c>>`` step must be right too (the RFT acceptance test)."""

    name = "math"

    def __init__(self, n_steps: tuple[int, int] = (2, 4), max_value: int = 50, max_total: int = 999,
                 check_steps: bool = False) -> None:
        self.n_steps, self.max_value, self.max_total, self.check_steps = n_steps, max_value, max_total, check_steps

    def rows(self, n: int, seed: int = 0) -> list[dict]:
        problems = make_problems(n, seed, self.n_steps, self.max_value, self.max_total)
        return [{**problem.as_row(), "prompt": problem.question} for problem in problems]

    def score(self, row: dict, answer: str) -> Score:
        got = extract_answer(answer)
        ok = is_correct(answer, row["answer"]) if self.check_steps else got == row["answer"]
        return Score(float(ok), ok, {"extracted": got})
