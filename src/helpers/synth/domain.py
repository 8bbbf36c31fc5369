"""An invented technical domain for continued pretraining: terms no model has seen, documents from templates.

Domain adaptation is usually taught on real medical or legal text, where nobody can say what the model
already knew. Here the domain is made up: machines that grow crystals (*devices*), each built around one
*component*, fed with one *substance*, growing crystals by one *process* at one working temperature. All
24 terms are invented words that the SmolLM2 tokenizer splits into three to five sub-word pieces, so

- any domain loss the model loses during continued pretraining is learnt here, not recalled;
- the terms are exactly the words a domain vocabulary expansion would add (:data:`TERMS`).

Facts are fixed per device by :func:`make_domain`; documents (:meth:`Domain.documents`) state them with
sentence templates. Training documents use :data:`TRAIN_TEMPLATES`, held-out documents the disjoint
:data:`HELD_OUT_TEMPLATES`, so a held-out loss measures the terms and facts in wording never trained on,
not memorised sentences. Every term appears in lowercase after a space, the form an added token
``" term"`` matches. Same arguments, same output.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DEVICES = ("zentrofyl", "plimbrodex", "quorvaxid", "thalvoscope", "morquelator", "skirrendome")
COMPONENTS = ("vexolithar", "drunmeshet", "kalibrost", "ophrenvane", "trevancoil", "ulbrastem")
SUBSTANCES = ("nerafluxine", "pyrandolite", "exmorrhine", "calvendrium", "yttrobane", "feldaxium")
PROCESSES = ("brindolation", "quilmorphosis", "dextravening", "spolvanning", "harrowlation", "grenthaloxy")
TERMS = DEVICES + COMPONENTS + SUBSTANCES + PROCESSES
TEMPERATURES = tuple(range(310, 700, 15))  # degrees; each device gets its own

TRAIN_TEMPLATES = (
    "The {device} is built around one {component} that holds the lattice steady.",
    "Inside every {device} sits one {component}, which the crew checks each shift.",
    "A {device} is fed with {substance}, poured in slowly at the top.",
    "Operators load {substance} into the {device} before each run.",
    "The {device} grows its crystals by {process}, a slow and quiet stage.",
    "During {process} the {device} must stay closed.",
    "A {device} works at {temperature} degrees; much hotter and the {component} cracks.",
    "Keep the {device} near {temperature} degrees while {process} goes on.",
    "When the {component} wears out, the {device} stops taking {substance}.",
)
HELD_OUT_TEMPLATES = (
    "Ask any engineer: the heart of a {device} is its {component}.",
    "Without {substance} a {device} cannot begin {process}.",
    "Reading {number}: the {device} holds {temperature} degrees and the {component} is sound.",
    "Each {device} on the floor was topped up with {substance} today.",
)
OPENINGS = ("Field note {number}.", "Shift report {number}.", "Workshop memo {number}.", "Manual page {number}.")
SPLITS = ("train", "held_out")


@dataclass(frozen=True)
class Device:
    """One crystal-growing device and its fixed facts."""

    name: str
    component: str
    substance: str
    process: str
    temperature: int

    def facts(self) -> dict[str, str]:
        """The template fields of this device (temperature as text)."""
        return {"device": self.name, "component": self.component, "substance": self.substance,
                "process": self.process, "temperature": str(self.temperature)}


@dataclass(frozen=True)
class Domain:
    """The devices of the domain; documents about them are generated on demand."""

    devices: tuple[Device, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        """Every invented word of the domain, in a fixed order: the candidates for new tokens."""
        return TERMS

    def documents(self, n: int, *, split: str = "train", sentences: int = 3, seed: int = 0) -> list[dict]:
        """``n`` short documents ``{"id", "device", "split", "text"}``, each about one device.

        A document opens with a numbered heading and states ``sentences`` facts of its device, drawn
        without repetition from the split's templates. Devices take turns, so every device is covered
        equally; the seed also picks the numbers. Held-out and training documents share no template.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        templates = TRAIN_TEMPLATES if split == "train" else HELD_OUT_TEMPLATES
        if not 1 <= sentences <= len(templates):
            raise ValueError(f"sentences must be between 1 and {len(templates)} for the {split} split, "
                             f"got {sentences}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        rng = random.Random(f"{seed}:{split}")  # a string seed: the two splits never share a random stream
        rows = []
        for i in range(n):
            device = self.devices[i % len(self.devices)]
            fields = {**device.facts(), "number": str(rng.randint(100, 999))}
            body = [template.format(**fields) for template in rng.sample(templates, sentences)]
            rows.append({"id": f"{split}-{i:04d}", "device": device.name, "split": split,
                         "text": " ".join([rng.choice(OPENINGS).format(**fields), *body])})
        return rows


def make_domain(seed: int = 0) -> Domain:
    """Assign each device its component, substance, process and temperature by a seeded shuffle."""
    rng = random.Random(seed)
    columns = [rng.sample(values, len(values)) for values in (COMPONENTS, SUBSTANCES, PROCESSES)]
    temperatures = rng.sample(TEMPERATURES, len(DEVICES))
    devices = tuple(Device(name, component, substance, process, temperature)
                    for name, component, substance, process, temperature
                    in zip(DEVICES, *columns, temperatures, strict=True))
    return Domain(devices)
