import pytest
import torch

from helpers import runtime


class _Props:
    def __init__(self, gib):
        self.total_memory = int(gib * 2**30)


@pytest.mark.parametrize(("gib", "capability", "expected"), [(80, (9, 0), "gpu"), (15, (7, 5), "small_gpu"),
                                                             (16, (8, 6), "small_gpu"), (24, (7, 0), "small_gpu"),
                                                             (24, (8, 9), "gpu")])
def test_auto_profile_follows_the_gpu_it_finds(monkeypatch, gib, capability, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_profile_name("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: _Props(gib))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert runtime.resolve_profile_name("AUTO") == expected


def test_small_gpu_takes_the_cpu_scale_unless_a_knob_names_its_own():
    namespace = {"STEPS": {"smoke": 2, "cpu": 16, "gpu": 300}, "BATCH": {"smoke": 1, "cpu": 4, "gpu": 32,
                                                                        "small_gpu": 8}}
    knobs = runtime.resolve_knobs(namespace, "small_gpu")
    assert knobs == {"STEPS": 16, "BATCH": 8} and namespace["STEPS"] == 16
    assert not runtime.is_per_profile({"cpu": 1, "gpu": 2})


def test_unknown_profile_lists_choices():
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        runtime.get_profile("laptop")


def test_presets_differ_in_scale_and_only_smoke_skips_claims():
    smoke, cpu, gpu = (runtime.get_profile(n) for n in ("smoke", "cpu", "gpu"))
    assert smoke.model_id == "tiny" and not smoke.assert_claims
    assert cpu.assert_claims and gpu.assert_claims
    assert smoke.train_steps < cpu.train_steps < gpu.train_steps


def test_overrides_change_one_knob_and_reject_typos():
    profile = runtime.get_profile("smoke", train_steps=9)
    assert profile.train_steps == 9 and profile.name == "smoke"
    with pytest.raises(TypeError, match="train_stepz"):
        profile.with_overrides(train_stepz=3)


@pytest.mark.parametrize(("capability", "expected"), [((7, 5), torch.float16), ((8, 0), torch.bfloat16),
                                                      ((9, 0), torch.bfloat16)])
def test_dtype_follows_gpu_generation(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert runtime.pick_dtype(torch.device("cuda")) == expected


def test_cpu_uses_fp32_and_no_mixed_precision_flags():
    assert runtime.pick_dtype(torch.device("cpu")) == torch.float32
    if not torch.cuda.is_available():
        assert runtime.precision_flags() == {"bf16": False, "fp16": False}


def test_seeding_reproduces_draws():
    runtime.seed_everything(7)
    first = torch.rand(3)
    runtime.seed_everything(7)
    assert torch.equal(first, torch.rand(3))


def test_environment_report_names_versions_and_profile():
    env = runtime.environment_report(runtime.get_profile("smoke"))
    assert torch.__version__.startswith(env["packages"]["torch"].split("+")[0])
    assert env["profile"]["name"] == "smoke"
    assert env["device"] in ("cpu", "cuda") and env["cpu_count"] >= 1


def test_a_run_note_reaches_the_environment_report(monkeypatch):
    assert "run_note" not in runtime.environment_report()
    monkeypatch.setenv(runtime.RUN_NOTE_VAR, "shared one GPU with four other notebooks")
    assert runtime.environment_report()["run_note"] == "shared one GPU with four other notebooks"


def test_model_id_override_and_empty_keeps_the_profile_model():
    assert runtime.get_profile("cpu", model_id="").model_id == "smollm2-135m-instruct"
    assert runtime.get_profile("cpu", model_id="gpt2").model_id == "gpt2"


def test_resolve_knobs_replaces_per_profile_dicts_and_records_every_knob():
    namespace = {"PROFILE": "auto", "SEED": 3, "TRAIN_STEPS": {"smoke": 2, "cpu": 20, "gpu": 200},
                 "RATES": {"full": 1e-4, "lora": 5e-4}, "MIN_GAIN": 0.1, "lowercase": 1, "_HIDDEN": 2,
                 "PARTIAL": {"cpu": 1}, "runtime": runtime, "PATH_CLASS": dict}
    knobs = runtime.resolve_knobs(namespace, "cpu")
    assert namespace["TRAIN_STEPS"] == 20 and namespace["RATES"] == {"full": 1e-4, "lora": 5e-4}
    assert knobs == {"PROFILE": "cpu", "SEED": 3, "TRAIN_STEPS": 20, "RATES": {"full": 1e-4, "lora": 5e-4},
                     "MIN_GAIN": 0.1, "PARTIAL": {"cpu": 1}}
    with pytest.raises(ValueError, match="laptop"):
        runtime.resolve_knobs({}, "laptop")


def test_constants_imported_from_helpers_are_not_knobs():
    from helpers.memory import GIB
    from helpers.runtime import PRESETS, PROFILE_NAMES

    knobs = runtime.resolve_knobs({"PRESETS": PRESETS, "PROFILE_NAMES": PROFILE_NAMES, "GIB": GIB,
                                   "NAMES": list(PROFILE_NAMES), "SEED": 0, "ON": True}, "cpu")
    assert knobs == {"NAMES": list(PROFILE_NAMES), "SEED": 0, "ON": True}


def test_hardware_label_names_the_gpu_or_the_cpu_and_its_cores():
    assert runtime.hardware_label({"gpu": {"name": "NVIDIA H100", "memory_gib": 79.2}}) == "NVIDIA H100 (79.2 GiB)"
    assert runtime.hardware_label({"cpu_model": "Xeon", "cpu_count": 2}) == "Xeon, 2 cores"


def test_a_profile_that_is_not_a_name_is_a_clear_error():
    with pytest.raises(ValueError, match="named by a string"):
        runtime.get_profile(None)
