"""Constructed knowledge: facts about tokens that exist only in fine-tuning.

``<|ent_03|> likes <|ent_17|>`` cannot be known from pretraining, because neither token existed
then. Whatever a model says about such facts after SFT was put there by SFT, which makes them a
clean probe of what fine-tuning does: how fast facts are memorised, whether they survive a change of
wording or of direction, and how confident the model is about facts it was never taught (it cannot
know them, so confidence there is overfitting).

Each entity likes exactly one other and is liked by exactly one, so the reverse question "who likes X?"
has one answer too. The relation is one random cycle through all entities: nobody likes themselves and
no two entities like each other, so the reverse answer can never be read off a trained forward fact.
Entities are split into subjects whose fact is trained and subjects whose fact is held out. Because
everyone is liked by exactly one entity, the right answers of held-out facts never appear as answers
in training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

ENTITY = "<|ent_{:02d}|>"
QUESTION = "Who does {a} like?"
ANSWER = "Answer: {a} likes {b}."
PROBES = {  # kind -> (question, answer prefix before the entity the model must name)
    "trained": (QUESTION, "Answer: {a} likes"),
    "new_question": ("Tell me whom {a} is fond of.", "Answer: {a} likes"),
    "new_answer_form": ("Tell me whom {a} is fond of.", "Answer: {a} is fond of"),
    "reverse": ("Who likes {b}?", "Answer:"),
}


@dataclass(frozen=True)
class Likes:
    """The entity tokens, who likes whom (``likes[i]`` is the index ``i`` likes), and the split."""

    entities: tuple[str, ...]
    likes: tuple[int, ...]
    train: tuple[int, ...]
    held_out: tuple[int, ...]

    def training_rows(self) -> list[dict]:
        """One prompt/completion row per trained fact, in the training question form."""
        return [self.row(a) for a in self.train]

    def row(self, a: int) -> dict:
        """The prompt/completion row that states the fact of subject ``a``."""
        names = {"a": self.entities[a], "b": self.entities[self.likes[a]]}
        return {"prompt": [{"role": "user", "content": QUESTION.format(**names)}],
                "completion": [{"role": "assistant", "content": ANSWER.format(**names)}]}

    def probe(self, tokenizer: Any, kind: str,
              subjects: tuple[int, ...]) -> tuple[list[str], list[int], list[list[int]]]:
        """Texts ending where the model must name an entity, the gold index, and the candidates' token ids.

        For ``reverse`` the answer is the *subject* and the entity in the question is excluded from
        the candidates: the trained answers always name the question's entity first, and that copying
        habit is not what the probe is about. Answers start with a word, not an entity token: entity
        tokens strip the whitespace before them, and a newline swallowed right after the assistant
        header would make the trained context differ from the one generation sees.
        """
        if kind not in PROBES:
            raise ValueError(f"kind must be one of {sorted(PROBES)}, got {kind!r}")
        question, prefix = PROBES[kind]
        everyone = list(range(len(self.entities)))
        ids = tokenizer.convert_tokens_to_ids(list(self.entities))
        texts, gold, candidates = [], [], []
        for a in subjects:
            b = self.likes[a]
            names = {"a": self.entities[a], "b": self.entities[b]}
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": question.format(**names)}],
                                                   tokenize=False, add_generation_prompt=True)
            texts.append(prompt + prefix.format(**names))
            allowed = [e for e in everyone if e != b] if kind == "reverse" else everyone
            candidates.append([ids[e] for e in allowed])
            gold.append(allowed.index(a if kind == "reverse" else b))
        return texts, gold, candidates


def make_likes(n_entities: int, held_out: int, seed: int = 0) -> Likes:
    """``n_entities`` entity tokens, who likes whom (one cycle), and ``held_out`` untrained subjects."""
    if n_entities < 3 or not 0 <= held_out < n_entities:
        raise ValueError(f"need at least 3 entities and 0 <= held_out < n_entities; got {n_entities}, {held_out}")
    rng = random.Random(seed)
    cycle = list(range(n_entities))
    rng.shuffle(cycle)
    likes = [0] * n_entities
    for position, a in enumerate(cycle):
        likes[a] = cycle[(position + 1) % n_entities]
    subjects = list(range(n_entities))
    rng.shuffle(subjects)
    return Likes(entities=tuple(ENTITY.format(i) for i in range(n_entities)), likes=tuple(likes),
                 train=tuple(sorted(subjects[held_out:])), held_out=tuple(sorted(subjects[:held_out])))
