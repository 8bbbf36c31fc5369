"""The fp16 path a T4 takes (it has no bf16): one step of each training loop the course writes itself.

On a T4 the TRL and transformers trainers run fp16 autocast with loss scaling (``fp16=True`` from
:func:`helpers.runtime.precision_flags`); the weights stay fp32. These tests run one step of each loop
that is not plain TRL under fp16 autocast, on CUDA when present, else on the CPU (whose autocast also
supports fp16 in this torch), and check the step is finite, moved the weights and left them fp32.
"""

import copy
import tempfile

import pytest
import torch
from datasets import Dataset

from helpers.models import load_model
from helpers.ppo import PolicyWithValue, PPOSettings, ppo_step
from helpers.runtime import get_profile, pick_device
from helpers.train import prompt_tuning_config, sft_config, sft_trainer

DEVICE = pick_device()
ROWS = [{"prompt": [{"role": "user", "content": f"Say {w}."}], "completion": [{"role": "assistant", "content": w}]}
        for w in ("yes", "no", "maybe", "never")]


def _fp16_autocast_works() -> str | None:
    """Why fp16 autocast cannot run on this build, or None when it can."""
    try:
        with torch.autocast(DEVICE.type, dtype=torch.float16):
            out = torch.ones(2, 2, device=DEVICE) @ torch.ones(2, 2, device=DEVICE)
        return None if out.dtype == torch.float16 else f"autocast on {DEVICE.type} ignores float16"
    except (RuntimeError, ValueError) as err:
        return f"fp16 autocast is not supported on {DEVICE.type} by this torch build: {err}"


pytestmark = pytest.mark.skipif(bool(_fp16_autocast_works()), reason=str(_fp16_autocast_works()))


def _fp16_args(out: str, **overrides):
    return sft_config(get_profile("smoke"), out, loss="completion", max_steps=1, per_device_train_batch_size=2,
                      learning_rate=1e-2, max_length=128, fp16=True, bf16=False, warmup_steps=0, **overrides)


def _changed(before, model) -> bool:
    return any(not torch.equal(b, p.detach().cpu()) for b, p in zip(before, model.parameters(), strict=True))


def test_an_sft_step_with_a_pull_to_the_start_runs_in_fp16():
    """Notebook 07's penalty trainers: the SFT loss plus a term computed on the fp32 weights."""
    from trl import SFTTrainer

    class Pulled(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
            return loss + sum((p - a).pow(2).sum() for p, a in zip(model.parameters(), anchor, strict=True))

    model, tokenizer = load_model("tiny", device=DEVICE)
    anchor = [p.detach().clone() for p in model.parameters()]
    before = [p.detach().cpu().clone() for p in model.parameters()]
    with tempfile.TemporaryDirectory() as out:
        trainer = Pulled(model=model, args=_fp16_args(out), train_dataset=Dataset.from_list(ROWS),
                         processing_class=tokenizer)
        loss = trainer.train().training_loss
    assert trainer.accelerator.mixed_precision == "fp16" and torch.isfinite(torch.tensor(loss))
    assert _changed(before, model) and all(p.dtype == torch.float32 for p in model.parameters())


def test_a_soft_prompt_step_runs_in_fp16(tmp_path):
    """Notebook 10's prompt-tuning stages: only the virtual tokens train."""
    model, tokenizer = load_model("tiny", device=DEVICE)
    tokenizer.save_pretrained(tmp_path / "tok")
    config = prompt_tuning_config(4, "Answer briefly.", tmp_path / "tok")
    trainer = sft_trainer(model, tokenizer, Dataset.from_list(ROWS), _fp16_args(str(tmp_path / "run")),
                          peft_config=config)
    soft = [p for p in trainer.model.parameters() if p.requires_grad]
    before = [p.detach().cpu().clone() for p in soft]
    loss = trainer.train().training_loss
    assert torch.isfinite(torch.tensor(loss)) and len(soft) == 1
    assert not torch.equal(before[0], soft[0].detach().cpu()) and soft[0].dtype == torch.float32


def test_a_ppo_step_runs_under_fp16_autocast():
    """Notebook 13's PPO loop, written by hand: sampling, log-probabilities and the clipped losses in fp16."""
    model, tokenizer = load_model("tiny", device=DEVICE)
    reference = copy.deepcopy(model).requires_grad_(False)
    policy = PolicyWithValue(model).to(DEVICE)
    before = [p.detach().cpu().clone() for p in policy.parameters()]
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    with torch.autocast(DEVICE.type, dtype=torch.float16):
        stats = ppo_step(policy, reference, tokenizer, optimizer, ["Hi", "Why?"], lambda p, t: [1.0, 0.0],
                         PPOSettings(max_new_tokens=3, beta=0.1))
    assert all(torch.isfinite(torch.tensor(stats[k])) for k in ("kl", "policy_loss", "value_loss"))
    assert _changed(before, policy) and all(p.dtype == torch.float32 for p in policy.parameters())
