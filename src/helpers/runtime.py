"""Profiles, device and dtype choice, seeding and the environment report.

Every notebook starts from one of three profiles so that the same code runs in CI on two CPU
cores (``smoke``), on a laptop (``cpu``) and on a GPU (``gpu``). The presets live here, in one
place; a notebook overrides any knob with :func:`dataclasses.replace` in its parameters cell.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from typing import Any

import numpy as np
import psutil
import torch

PROFILE_NAMES = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Profile:
    """The scale of a run: which model, how many steps and examples, whether claims are asserted.

    ``assert_claims`` is False in ``smoke``: a random tiny model cannot show the effects the
    notebooks teach, so there the claims are recorded, never enforced.
    """

    name: str
    model_id: str
    train_steps: int
    batch_size: int
    max_length: int
    n_train: int
    n_eval: int
    max_new_tokens: int
    learning_rate: float
    assert_claims: bool

    def with_overrides(self, **knobs: Any) -> Profile:
        """Return a copy with some knobs changed (unknown names raise, so typos do not pass silently)."""
        unknown = set(knobs) - set(asdict(self))
        if unknown:
            raise TypeError(f"unknown profile knob(s) {sorted(unknown)}; known: {sorted(asdict(self))}")
        return replace(self, **knobs)


PRESETS: dict[str, Profile] = {
    "smoke": Profile(name="smoke", model_id="tiny", train_steps=4, batch_size=2, max_length=128,
                     n_train=16, n_eval=8, max_new_tokens=16, learning_rate=1e-3, assert_claims=False),
    "cpu": Profile(name="cpu", model_id="smollm2-135m-instruct", train_steps=40, batch_size=4,
                   max_length=256, n_train=160, n_eval=32, max_new_tokens=48, learning_rate=5e-5,
                   assert_claims=True),
    "gpu": Profile(name="gpu", model_id="smollm2-135m-instruct", train_steps=300, batch_size=32,
                   max_length=512, n_train=4000, n_eval=256, max_new_tokens=96, learning_rate=5e-5,
                   assert_claims=True),
}


def resolve_profile_name(name: str) -> str:
    """Map ``auto`` to ``gpu`` when CUDA is present, else ``cpu``; validate the others."""
    name = name.strip().lower()
    if name == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    if name not in PRESETS:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)} or 'auto'")
    return name


def get_profile(name: str = "auto", **overrides: Any) -> Profile:
    """The preset for ``name`` (``auto`` resolved), with optional knob overrides."""
    profile = PRESETS[resolve_profile_name(name)]
    return profile.with_overrides(**overrides) if overrides else profile


def pick_device() -> torch.device:
    """CUDA when available; CPU otherwise (MPS is left out: its losses are not reproducible run to run)."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def supports_bf16(device: torch.device) -> bool:
    """bf16 needs compute capability 8.0 (Ampere) or newer; a T4 (7.5) only emulates it, slowly."""
    if device.type != "cuda":
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def pick_dtype(device: torch.device | None = None) -> torch.dtype:
    """bf16 on Ampere or newer, fp16 on older GPUs such as the T4, fp32 on CPU.

    fp32 on CPU is deliberate: bf16 autocast on CPU makes a training step about eight times slower.
    """
    device = device or pick_device()
    if device.type == "cuda":
        return torch.bfloat16 if supports_bf16(device) else torch.float16
    return torch.float32


def precision_flags(device: torch.device | None = None) -> dict[str, bool]:
    """The ``bf16``/``fp16`` flags for a TRL or transformers config on this hardware."""
    dtype = pick_dtype(device)
    return {"bf16": dtype == torch.bfloat16, "fp16": dtype == torch.float16}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a rerun draws the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def in_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


def environment_report(profile: Profile | None = None) -> dict[str, Any]:
    """Versions, hardware and profile: what a reader needs to reproduce a result or explain a gap."""
    device = pick_device()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": {name: _version(name) for name in
                     ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "papermill")},
        "device": device.type,
        "dtype": str(pick_dtype(device)).removeprefix("torch."),
        "colab": in_colab(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        report["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                         "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda}
    if profile is not None:
        report["profile"] = asdict(profile)
    return report
