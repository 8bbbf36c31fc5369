"""A recipe's configuration: its defaults, then a YAML file, then ``key=value`` overrides from the command line.

Every key is checked against the recipe's own defaults (and the ``train`` section against the fields of the TRL
config it fills), so a typo fails with the file or override that holds it and the nearest valid name, before any
model loads. Values are YAML scalars, so ``steps=8``, ``lora.r=16`` and ``data.files=[a.jsonl,b.jsonl]`` mean
what they look like; scientific notation without a dot (``1e-5``, a string to YAML 1.1) is read
as the number it was meant to be.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

FREE_SECTIONS = ("train",)  # keys checked against a TRL config's fields, not against defaults
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the file or override and what to change."""


def scalar(value: Any) -> Any:
    """``value`` with every ``1e-5``-style string turned into a float, inside lists and mappings too.

    YAML 1.1 (PyYAML) reads ``1e-5`` as a string because it lacks a dot; a learning rate written that way would
    otherwise reach the optimizer as text.
    """
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, Mapping):
        return {k: scalar(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scalar(v) for v in value]
    return value


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; a missing file, a syntax error (with its line) or a non-mapping raise ConfigError."""
    target = Path(path)
    if not target.is_file():
        raise ConfigError(f"config file {path} does not exist (resolved: {target.resolve()})")
    try:
        data = yaml.safe_load(target.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe config is a mapping of keys to values, got {type(data).__name__}")
    return scalar(data)


def parse_override(text: str) -> dict[str, Any]:
    """``a.b=value`` as the nested mapping ``{"a": {"b": value}}``, the value read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"override {text!r} is not key=value (for example steps=8 or data.files=[rows.jsonl])")
    try:
        value = scalar(yaml.safe_load(raw)) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({err})") from None
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def _unknown(key: str, known: Iterable[str], where: str, path: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown key {path + key!r}{hint}; known here: {', '.join(sorted(known))}")


def merge(base: dict[str, Any], given: Mapping[str, Any], where: str, path: str = "") -> dict[str, Any]:
    """``given`` laid over ``base``: a key ``base`` lacks is an error naming ``where``; a section (a non-empty mapping
    in ``base``) merges key by key; a free section (``train``) takes any keys, checked later by :func:`check_train`."""
    merged = copy.deepcopy(base)
    for key, value in given.items():
        if key not in base:
            raise _unknown(key, base, where, path)
        if key in FREE_SECTIONS and not path:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {key!r} holds TRL config fields as a mapping, got {value!r}")
            merged[key] = {**merged[key], **value}
        elif isinstance(base[key], dict) and base[key]:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {path + key!r} is a section with keys {sorted(base[key])}, got {value!r}")
            merged[key] = merge(base[key], value, where, f"{path}{key}.")
        else:
            merged[key] = value
    return merged


def check_train(train: Mapping[str, Any], config_class: type) -> None:
    """Every ``train`` key must be a field of the TRL config it fills (``SFTConfig``, ``DPOConfig``...)."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    for key in train:
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"train.{key} is not a field of {config_class.__name__}{hint}")


def load_config(defaults: Mapping[str, Any], path: str | Path | None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """The defaults, then the file at ``path`` (when given), then each override; every layer checked by
    :func:`merge`."""
    config = copy.deepcopy(dict(defaults))
    if path is not None:
        config = merge(config, read_yaml(path), str(path))
    for text in overrides:
        config = merge(config, parse_override(text), f"override {text!r}")
    return config
