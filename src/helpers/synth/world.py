"""A synthetic world of invented people, for studying how facts get into a model and back out.

Each person has a name built from random syllables (so no pretrained model can already know them)
and six attributes: birth date, birth city, university, major, employer, and employer city, the last
fixed by the employer. Biographies state the attributes in sentences drawn from several paraphrase
templates per attribute; QA pairs ask for one attribute each. People, not questions, are split into
train and test, so test accuracy measures whether knowledge can be *extracted* for people whose QA was
never trained on.

Knobs:

- ``make_world(n_people, seed, n_first, n_last, n_cities, n_universities, n_employers, years)``:
  population size, name-pool sizes, attribute-pool sizes, birth-year range.
- ``World.biographies(multiplicity, permute, fullname, seed, people=, shuffle=)``: ``multiplicity``
  distinct biographies per person; ``permute`` shuffles sentence order; ``fullname`` repeats the full
  name instead of a pronoun; ``people`` restricts to a subset (e.g. more biographies for "celebrities"
  than for the rest); ``shuffle`` mixes all biographies globally (keep it on: a person's paraphrases
  packed into one context window let the model copy between them, which ruins the experiment).
- ``World.qa_pairs(people)`` and ``World.split_people(train_fraction, seed)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from helpers.synth.task import Score, Task, answer_in_response

ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer", "employer_city")

_ONSETS = (
    "b",
    "br",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "k",
    "kr",
    "l",
    "m",
    "n",
    "p",
    "pr",
    "r",
    "s",
    "sk",
    "t",
    "th",
    "tr",
    "v",
    "vr",
    "z",
    "zh",
    "y",
    "w",
)
_NUCLEI = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "ia")
_CODAS = ("", "", "", "n", "r", "l", "s", "th", "x", "m", "nd", "sk")

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_MAJORS = (
    "Biology",
    "Chemistry",
    "Physics",
    "Mathematics",
    "Statistics",
    "Computer Science",
    "Economics",
    "History",
    "Philosophy",
    "Linguistics",
    "Psychology",
    "Sociology",
    "Anthropology",
    "Geology",
    "Astronomy",
    "Civil Engineering",
    "Mechanical Engineering",
    "Electrical Engineering",
    "Chemical Engineering",
    "Architecture",
    "Music",
    "Fine Arts",
    "Theatre",
    "Film Studies",
    "Journalism",
    "Political Science",
    "Law",
    "Nursing",
    "Pharmacy",
    "Public Health",
    "Nutrition",
    "Marine Biology",
    "Ecology",
    "Forestry",
    "Agriculture",
    "Veterinary Science",
    "Accounting",
    "Finance",
    "Marketing",
    "Business Administration",
    "Education",
    "Library Science",
    "Geography",
    "Oceanography",
    "Meteorology",
    "Materials Science",
    "Neuroscience",
    "Biochemistry",
    "Genetics",
    "Classics",
    "Comparative Literature",
    "Art History",
    "Urban Planning",
    "Industrial Design",
    "Data Science",
    "Robotics",
    "Aerospace Engineering",
    "Criminology",
    "Social Work",
    "Archaeology",
)
_COMPANY_SUFFIXES = (
    "Systems",
    "Labs",
    "Holdings",
    "Foods",
    "Logistics",
    "Dynamics",
    "Textiles",
    "Media",
    "Energy",
    "Biotech",
    "Motors",
    "Analytics",
    "Works",
    "Group",
    "Robotics",
    "Optics",
    "Instruments",
    "Shipping",
    "Pharma",
    "Software",
)
_CITY_PREFIXES = ("Port ", "New ", "Lake ", "North ", "East ", "Fort ")

# Paraphrase templates per attribute. {subj}/{poss} become a pronoun (he/his) or the full name
# (Name/Name's); capitalised forms start sentences; {v} is the attribute value, always verbatim.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_date": (
        "{Subj} was born on {v}.",
        "{Subj} came into the world on {v}.",
        "{Poss} date of birth is {v}.",
        "The records show that {subj} was born on {v}.",
        "{Subj} entered life on {v}.",
    ),
    "birth_city": (
        "{Subj} was born in {v}.",
        "{Subj} spent {poss} early years in {v}, the city of {poss} birth.",
        "{Poss} birthplace is {v}.",
        "{Subj} comes originally from {v}.",
        "{Subj} grew up in {v}, where {subj} was born.",
    ),
    "university": (
        "{Subj} studied at {v}.",
        "{Subj} received {poss} education at {v}.",
        "{Subj} graduated from {v}.",
        "{Subj} attended {v}.",
        "{Subj} completed {poss} degree at {v}.",
    ),
    "major": (
        "{Subj} majored in {v}.",
        "{Subj} chose {v} as {poss} field of study.",
        "{Poss} studies focused on {v}.",
        "{Subj} earned a degree in {v}.",
        "{Subj} specialized in {v} at university.",
    ),
    "employer": (
        "{Subj} works for {v}.",
        "{Subj} is employed by {v}.",
        "{Subj} holds a position at {v}.",
        "{Poss} employer is {v}.",
        "{Subj} has a job at {v}.",
    ),
    "employer_city": (
        "{Subj} works in {v}.",
        "{Poss} office is located in {v}.",
        "{Subj} commutes to work in {v}.",
        "{Subj} is based in {v} for work.",
        "{Poss} workplace is in {v}.",
    ),
}

QUESTIONS = {
    "birth_date": "What is the birth date of {name}?",
    "birth_city": "Where was {name} born?",
    "university": "Which university did {name} attend?",
    "major": "What did {name} study?",
    "employer": "Which company does {name} work for?",
    "employer_city": "Where does {name} work?",
}

_PRONOUNS = {"he": ("he", "his"), "she": ("she", "her")}


def syllable_word(rng: random.Random, min_syllables: int = 2, max_syllables: int = 3) -> str:
    """A capitalised pronounceable word made of random syllables, e.g. "Draelkor"."""
    n = rng.randint(min_syllables, max_syllables)
    parts = []
    for i in range(n):
        onset = "" if i == 0 and rng.random() < 0.15 else rng.choice(_ONSETS)
        coda = rng.choice(_CODAS) if i == n - 1 or rng.random() < 0.2 else ""
        parts.append(onset + rng.choice(_NUCLEI) + coda)
    return "".join(parts).capitalize()


def _unique_words(
    rng: random.Random, n: int, make: Callable[[random.Random], str], taken: set[str]
) -> list[str]:
    """n distinct strings from ``make(rng)``, also distinct from ``taken`` (which is updated)."""
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"could not make {n} distinct names; lower the pool size")
        word = make(rng)
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


@dataclass(frozen=True)
class Person:
    """One invented person and their six attributes (all strings, rendered as they appear in text)."""

    id: str
    first: str
    last: str
    pronoun: str
    birth_date: str
    birth_city: str
    university: str
    major: str
    employer: str
    employer_city: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    def attributes(self) -> dict[str, str]:
        return {a: getattr(self, a) for a in ATTRIBUTES}


@dataclass
class World:
    """The population and the attribute pools it was drawn from."""

    people: list[Person]
    cities: list[str]
    universities: list[str]
    employers: dict[str, str]  # employer -> the city it is in
    seed: int
    _by_id: dict[str, Person] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {p.id: p for p in self.people}

    def person(self, person_id: str) -> Person:
        return self._by_id[person_id]

    def biography(self, person: Person, rng: random.Random, permute: bool, fullname: bool) -> str:
        """One biography: a random template per attribute, optionally in shuffled order.

        The first sentence always names the person in full; later ones use the pronoun unless
        ``fullname`` is set (the paper's full-name augmentation).
        """
        order = list(ATTRIBUTES)
        if permute:
            rng.shuffle(order)
        subj, poss = _PRONOUNS[person.pronoun]
        sentences = []
        for k, attr in enumerate(order):
            template = rng.choice(TEMPLATES[attr])
            use_name = fullname or k == 0
            s, p = (person.name, person.name + "'s") if use_name else (subj, poss)
            sentences.append(
                template.format(
                    Subj=s[0].upper() + s[1:],
                    subj=s,
                    Poss=p[0].upper() + p[1:],
                    poss=p,
                    v=getattr(person, attr),
                )
            )
        return " ".join(sentences)

    def biographies(
        self,
        multiplicity: int = 1,
        permute: bool = False,
        fullname: bool = False,
        seed: int = 0,
        *,
        people: Sequence[Person] | None = None,
        shuffle: bool = True,
    ) -> list[dict]:
        """``multiplicity`` distinct biographies per person, as rows ``{person_id, version, text}``.

        Each person's texts come from a generator seeded by (seed, person id), so a person's
        biographies do not change when the list of people around them does.
        """
        if multiplicity < 1:
            raise ValueError("multiplicity must be >= 1")
        people = self.people if people is None else people
        rows = []
        for person in people:
            rng = random.Random(f"bio:{seed}:{person.id}")
            texts: list[str] = []
            attempts = 0
            while len(texts) < multiplicity:
                attempts += 1
                if attempts > 100 * multiplicity:
                    raise ValueError(f"cannot write {multiplicity} distinct biographies with these knobs")
                text = self.biography(person, rng, permute, fullname)
                if text not in texts:
                    texts.append(text)
            rows.extend({"person_id": person.id, "version": v, "text": t} for v, t in enumerate(texts))
        if shuffle:
            random.Random(f"shuffle:{seed}").shuffle(rows)
        return rows

    def qa_pairs(self, people: Sequence[Person] | None = None) -> list[dict]:
        """One question per person and attribute: rows ``{person_id, attribute, question, answer}``."""
        people = self.people if people is None else people
        return [
            {
                "person_id": p.id,
                "attribute": attr,
                "question": QUESTIONS[attr].format(name=p.name),
                "answer": getattr(p, attr),
            }
            for p in people
            for attr in ATTRIBUTES
        ]

    def split_people(self, train_fraction: float = 0.5, seed: int = 0) -> tuple[list[Person], list[Person]]:
        """Disjoint (train, test) lists of people: test people's QA pairs are never trained on."""
        if not 0 <= train_fraction <= 1:
            raise ValueError("train_fraction must be in [0, 1]")
        order = list(range(len(self.people)))
        random.Random(f"split:{seed}").shuffle(order)
        cut = round(train_fraction * len(order))
        train = sorted(order[:cut])
        test = sorted(order[cut:])
        return [self.people[i] for i in train], [self.people[i] for i in test]


def make_world(
    n_people: int,
    seed: int = 0,
    *,
    n_first: int = 400,
    n_last: int = 1000,
    n_cities: int = 200,
    n_universities: int = 300,
    n_employers: int = 263,
    years: tuple[int, int] = (1920, 2009),
) -> World:
    """Invent ``n_people`` people with unique full names and their attributes, all from ``seed``."""
    if n_people > n_first * n_last // 2:
        raise ValueError(f"{n_people} people need more names: raise n_first * n_last above {2 * n_people}")
    rng = random.Random(seed)
    taken: set[str] = set()
    firsts = _unique_words(rng, n_first, syllable_word, taken)
    lasts = _unique_words(rng, n_last, lambda r: syllable_word(r, 2, 3), taken)

    def city(r: random.Random) -> str:
        word = syllable_word(r)
        return r.choice(_CITY_PREFIXES) + word if r.random() < 0.25 else word

    def university(r: random.Random) -> str:
        word = syllable_word(r)
        pattern = r.randrange(4)
        return (
            f"the University of {word}",
            f"{word} Institute of Technology",
            f"{word} College",
            f"{word} State University",
        )[pattern]

    cities = _unique_words(rng, n_cities, city, taken)
    universities = _unique_words(rng, n_universities, university, taken)
    company_names = _unique_words(
        rng, n_employers, lambda r: f"{syllable_word(r)} {r.choice(_COMPANY_SUFFIXES)}", taken
    )
    employers = {name: rng.choice(cities) for name in company_names}

    people = []
    names: set[tuple[str, str]] = set()
    while len(people) < n_people:
        first, last = rng.choice(firsts), rng.choice(lasts)
        if (first, last) in names:
            continue
        names.add((first, last))
        employer = rng.choice(company_names)
        date = f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(*years)}"
        people.append(
            Person(
                id=f"p{len(people):05d}",
                first=first,
                last=last,
                pronoun=rng.choice(("he", "she")),
                birth_date=date,
                birth_city=rng.choice(cities),
                university=rng.choice(universities),
                major=rng.choice(_MAJORS),
                employer=employer,
                employer_city=employers[employer],
            )
        )
    return World(people=people, cities=cities, universities=universities, employers=employers, seed=seed)


class FactTask(Task):
    """Questions about the invented people of one world: right when the fact appears in the answer."""

    name = "facts"

    def __init__(self, world: World, people: Sequence[Person] | None = None) -> None:
        self.world, self.people = world, people

    def rows(self, n: int, seed: int = 0) -> list[dict]:
        pairs = self.world.qa_pairs(self.people)
        if n > len(pairs):
            raise ValueError(f"asked for {n} questions; these people have {len(pairs)}")
        return [{**pair, "prompt": pair["question"]} for pair in random.Random(seed).sample(pairs, n)]

    def score(self, row: dict, answer: str) -> Score:
        ok = answer_in_response(answer, [row["answer"]])
        return Score(float(ok), ok)
