"""Profiles, device and dtype choice, seeding and the environment report.

Every notebook starts from a profile so that the same code runs in CI on two CPU cores (``smoke``),
on a laptop (``cpu``), on a large GPU (``gpu``) and on a small one (``small_gpu``: under 20 GiB or
without bf16, such as Colab's T4). The presets live here; the scale of a run lives in each notebook's
parameters cell, as knobs given per profile.
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

PROFILE_NAMES = ("smoke", "cpu", "gpu", "small_gpu")
KNOB_PROFILES = ("smoke", "cpu", "gpu")  # the keys every per-profile knob gives
KNOB_FALLBACK = {"small_gpu": "cpu"}  # a profile a knob may leave out, and whose value it then takes
SMALL_GPU_GIB = 20.0  # below this much memory (or without bf16) the gpu scale does not fit: small_gpu
RUN_NOTE_VAR = "TUNING_LAB_RUN_NOTE"  # set by whoever launches a run, recorded in its environment report


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
                     learning_rate=1e-3, assert_claims=False),
    "cpu": Profile(name="cpu", model_id="smollm2-135m-instruct", train_steps=40, batch_size=4,
                   max_length=256, learning_rate=5e-5,
                   assert_claims=True),
    "gpu": Profile(name="gpu", model_id="smollm2-135m-instruct", train_steps=300, batch_size=32,
                   max_length=512, learning_rate=5e-5,
                   assert_claims=True),
    # the cpu scale on a GPU too small or too slow for the gpu scale: minutes on a Colab T4
    "small_gpu": Profile(name="small_gpu", model_id="smollm2-135m-instruct", train_steps=40, batch_size=4,
                         max_length=256, learning_rate=5e-5, assert_claims=True),
}


def small_gpu(device: torch.device | None = None) -> bool:
    """A GPU the gpu scale does not fit: under :data:`SMALL_GPU_GIB` of memory, or no bf16 (a T4 runs fp16, and
    its speed is a fraction of the GPUs the gpu scale was sized on)."""
    device = device or torch.device("cuda")
    total = torch.cuda.get_device_properties(device).total_memory / 2**30
    return total < SMALL_GPU_GIB or not supports_bf16(device)


def resolve_profile_name(name: str) -> str:
    """Map ``auto`` to ``gpu`` on a large GPU, ``small_gpu`` on a small one, else ``cpu``; validate the others."""
    if not isinstance(name, str):
        raise ValueError(f"a profile is named by a string ({', '.join(PROFILE_NAMES)} or 'auto'), got {name!r}")
    name = name.strip().lower()
    if name == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        return "small_gpu" if small_gpu() else "gpu"
    if name not in PRESETS:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)} or 'auto'")
    return name


def get_profile(name: str = "auto", model_id: str = "", **overrides: Any) -> Profile:
    """The preset for ``name`` (``auto`` resolved), with optional knob overrides.

    ``model_id`` is the parameters cell's ``MODEL_ID``: empty keeps the profile's own model, so a
    notebook passes it through unconditionally.
    """
    profile = PRESETS[resolve_profile_name(name)]
    if model_id:
        overrides["model_id"] = model_id
    return profile.with_overrides(**overrides) if overrides else profile


def is_per_profile(value: Any) -> bool:
    """A knob given per profile: a dict whose keys are the knob profiles, and perhaps ones that fall back."""
    return isinstance(value, dict) and set(KNOB_PROFILES) <= set(value) <= set(PROFILE_NAMES)


def resolve_knobs(namespace: dict[str, Any], profile_name: str) -> dict[str, Any]:
    """Turn the parameters cell's knobs into plain values for one profile, and return all of them.

    Every UPPERCASE name of ``namespace`` (a notebook passes ``globals()``) is a knob. A per-profile
    dict (keys ``smoke``, ``cpu``, ``gpu``, and ``small_gpu`` where it needs its own value; without one
    ``small_gpu`` takes the ``cpu`` value) is replaced *in the namespace* by this profile's value, so
    the rest of the notebook reads ``TRAIN_STEPS`` as a number. The returned dict holds every knob,
    resolved, which is what the results JSON records: claim thresholds included, so a reader can see
    the bar each claim was held to. ``PROFILE`` is recorded as the resolved name.
    A constant imported from a ``helpers`` module (``from helpers.synth.scenes import ROLES``) is the
    course's code, not a knob, and is left out.
    """
    if profile_name not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile_name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    knobs: dict[str, Any] = {}
    for name, value in list(namespace.items()):
        if not name.isupper() or name.startswith("_") or callable(value) or isinstance(value, type(sys)):
            continue
        if _imported_from_helpers(name, value):
            continue
        if is_per_profile(value):
            value = namespace[name] = value.get(profile_name, value.get(KNOB_FALLBACK.get(profile_name, "")))
        knobs[name] = value
    if "PROFILE" in knobs:
        knobs["PROFILE"] = profile_name
    return knobs


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
    cpu_model = _cpu_model()
    if cpu_model:
        report["cpu_model"] = cpu_model
    if os.environ.get(RUN_NOTE_VAR):  # conditions a reader must know, e.g. a GPU shared with other runs
        report["run_note"] = os.environ[RUN_NOTE_VAR]
    if profile is not None:
        report["profile"] = asdict(profile)
    return report


def _cpu_model() -> str | None:
    """The processor's name (Linux /proc/cpuinfo, else the platform's guess): stamps name the hardware."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _imported_from_helpers(name: str, value: Any) -> bool:
    """True when ``value`` is the very object a loaded ``helpers`` module holds under ``name``.

    Booleans, None and small ints are left alone: Python keeps one object for each, so ``SEED = 0`` is
    the same object as any other 0 (``GIB = 2**30`` imported from ``helpers.memory`` is matched).
    """
    if value is None or isinstance(value, bool) or (isinstance(value, int) and -5 <= value <= 256):
        return False
    return any(getattr(module, name, None) is value for key, module in list(sys.modules.items())
               if key.startswith("helpers.") and module is not None)


def hardware_label(environment: dict[str, Any]) -> str:
    """One line naming the hardware of a run from its environment report: GPU name, else CPU and cores."""
    gpu = environment.get("gpu")
    if gpu:
        return f"{gpu['name']} ({gpu.get('memory_gib', '?')} GiB)"
    cpu = environment.get("cpu_model") or "CPU"
    return f"{cpu}, {environment.get('cpu_count', '?')} cores"
