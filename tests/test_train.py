import pytest
import torch

from helpers import train
from helpers.evals import score_with_reward_model
from helpers.models import load_model
from helpers.runtime import get_profile


def _packed_vs_separate(model, docs):
    """Logits of documents packed into one row (positions restarting) and of each run on its own."""
    ids = torch.cat(docs).unsqueeze(0)
    positions = torch.cat([torch.arange(len(d)) for d in docs]).unsqueeze(0)
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions).logits[0]
        alone = torch.cat([model(input_ids=d.unsqueeze(0)).logits[0] for d in docs])
    return packed, alone


def test_boundaries_come_from_position_restarts():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3]])
    assert train.document_boundaries(positions).tolist() == [0, 3, 5, 9]


def test_isolated_attention_matches_documents_run_separately():
    model, _ = load_model("tiny")
    model.set_attn_implementation(train.register_varlen_attention())
    generator = torch.Generator().manual_seed(0)
    docs = [torch.randint(3, 1000, (n,), generator=generator) for n in (5, 9, 3)]
    packed, alone = _packed_vs_separate(model, docs)
    assert torch.allclose(packed, alone, atol=1e-5)


def test_isolated_attention_reads_the_boundaries_the_collator_sends():
    """TRL's padding-free collator sends cu_seq_lens_q/max_length_q; the kernel uses them instead of the positions."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model, _ = load_model("tiny")
    model.set_attn_implementation(train.register_varlen_attention())
    generator = torch.Generator().manual_seed(0)
    docs = [torch.randint(3, 1000, (n,), generator=generator) for n in (5, 9)]
    collate = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)
    batch = collate([{"input_ids": d.tolist()} for d in docs])
    inputs = {k: batch[k] for k in ("input_ids", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q",
                                    "max_length_k")}
    _, alone = _packed_vs_separate(model, docs)
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits[0], alone, atol=1e-5)
        one_document = {**inputs, "cu_seq_lens_q": torch.tensor([0, 14], dtype=torch.int32), "max_length_q": 14}
        leaked = model(**one_document).logits[0]  # told there is one document: the second sees the first
    assert not torch.allclose(leaked[5:], alone[5:], atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the variable-length flash kernel needs a CUDA GPU")
def test_isolated_attention_on_cuda_matches_the_same_kernel_alone():
    """On a GPU the flash kernel runs in 16 bits: compared with the same kernel alone, a packed document differs
    by rounding only, far below what the first document does to it in one causal row."""
    model = load_model("tiny")[0].cuda().eval()
    generator = torch.Generator().manual_seed(0)
    docs = [torch.randint(3, 1000, (n,), generator=generator).cuda() for n in (37, 53)]
    ids = torch.cat(docs)[None]
    with torch.no_grad():
        wrapped = model(input_ids=ids).logits[0, 37:]
        model.set_attn_implementation(train.register_varlen_attention())
        alone = model(input_ids=docs[1][None], position_ids=torch.arange(53, device="cuda")[None]).logits[0]
        positions = torch.cat([torch.arange(37), torch.arange(53)]).cuda()[None]
        packed = model(input_ids=ids, position_ids=positions).logits[0, 37:]
    assert (packed - alone).abs().max() < (wrapped - alone).abs().max() / 20


def test_plain_causal_attention_leaks_across_documents():
    """The failure the isolated mode prevents: with sdpa, later documents see earlier ones."""
    model, _ = load_model("tiny")
    model.set_attn_implementation("sdpa")
    generator = torch.Generator().manual_seed(0)
    docs = [torch.randint(3, 1000, (n,), generator=generator) for n in (5, 9)]
    ids = torch.cat(docs).unsqueeze(0)
    with torch.no_grad():
        wrapped = model(input_ids=ids).logits[0]  # one long causal sequence, as "wrapped" packing trains
    _, alone = _packed_vs_separate(model, docs)
    assert torch.allclose(wrapped[:5], alone[:5], atol=1e-5)  # the first document is unaffected
    assert not torch.allclose(wrapped[5:], alone[5:], atol=1e-3)  # the second one attends to the first


def test_config_follows_profile_hardware_and_mode(tmp_path):
    profile = get_profile("smoke")
    args = train.sft_config(profile, tmp_path, packing="isolated", loss="assistant")
    assert args.max_steps == profile.train_steps and args.per_device_train_batch_size == profile.batch_size
    assert args.packing and args.padding_free and args.packing_strategy == "bfd" and args.assistant_only_loss
    if not torch.cuda.is_available():
        assert not args.bf16 and not args.fp16 and args.use_cpu
    wrapped = train.sft_config(profile, tmp_path, packing="wrapped", loss="completion", learning_rate=3e-2)
    assert wrapped.packing_strategy == "wrapped" and not wrapped.padding_free and wrapped.completion_only_loss
    assert wrapped.learning_rate == 3e-2


def test_reward_model_recipe_trains_a_model_that_ranks_its_pairs(tmp_path):
    torch.manual_seed(0)
    args = train.reward_config(get_profile("smoke"), tmp_path, num_train_epochs=8, learning_rate=1e-3)
    assert args.max_steps == -1 and args.num_train_epochs == 8 and args.save_strategy == "no"
    prompts = ["Say something.", "Answer me.", "Reply please.", "Go on."]
    pairs = [{"prompt": [{"role": "user", "content": p}], "chosen": [{"role": "assistant", "content": "yes yes"}],
              "rejected": [{"role": "assistant", "content": "no no"}], "score_chosen": 1.0} for p in prompts]
    rm, result = train.train_reward_model(pairs, get_profile("smoke"), tmp_path, model_id="tiny", num_train_epochs=8,
                                          learning_rate=1e-3, per_device_train_batch_size=4, max_length=64)
    _, tokenizer = load_model("tiny")
    chosen = score_with_reward_model(rm, tokenizer, prompts, ["yes yes"] * 4)
    rejected = score_with_reward_model(rm, tokenizer, prompts, ["no no"] * 4)
    assert all(c > r for c, r in zip(chosen, rejected, strict=True))
    assert result.steps == 8 and not rm.training and not any(p.requires_grad for p in rm.parameters())


def test_unknown_modes_are_rejected(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="packing must be one of"):
        train.sft_config(get_profile("smoke"), tmp_path, packing="tight")
    with pytest.raises(ValueError, match="loss must be one of"):
        train.sft_config(get_profile("smoke"), tmp_path, loss="prompt")


def test_isolated_packing_trains_end_to_end_and_is_measured(tmp_path, results_tmp):
    from datasets import Dataset

    from helpers.report import Report

    model, tokenizer = load_model("tiny")
    chats = [[{"role": "user", "content": f"What is {a} plus {a}?"}, {"role": "assistant", "content": str(2 * a)}]
             for a in range(12)]
    dataset = Dataset.from_list([{"messages": c} for c in chats])
    profile = get_profile("smoke")
    args = train.sft_config(profile, tmp_path, packing="isolated", loss="assistant", max_steps=3, logging_steps=1)
    report = Report("99_train", profile)
    result = train.run_training(train.sft_trainer(model, tokenizer, dataset, args), "sft", report)
    assert model.config._attn_implementation == train.VARLEN_ATTENTION
    assert result.steps == 3 and result.tokens > 0 and len(result.losses) == 3
    assert report.metrics["sft"]["tokens"] == result.tokens and result.tokens_per_s > 0


def test_training_prints_a_few_short_lines_not_raw_log_dicts(tmp_path, capsys):
    from datasets import Dataset

    model, tokenizer = load_model("tiny")
    rows = [{"messages": [{"role": "user", "content": f"Say {a}."}, {"role": "assistant", "content": str(a)}]}
            for a in range(8)]
    args = train.sft_config(get_profile("smoke"), tmp_path, max_steps=10, logging_steps=1)
    train.run_training(train.sft_trainer(model, tokenizer, Dataset.from_list(rows), args), "demo")
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("demo: step")]
    assert len(lines) == 5 and lines[-1].startswith("demo: step 10/10, loss ")
    assert "{'loss'" not in out and "'grad_norm'" not in out


def test_every_n_steps_measures_at_start_on_schedule_and_at_the_end(tmp_path):
    from datasets import Dataset

    model, tokenizer = load_model("tiny")
    rows = [{"messages": [{"role": "user", "content": f"Say {a}."}, {"role": "assistant", "content": str(a)}]}
            for a in range(8)]
    seen_weights = []

    def measure(lm):
        seen_weights.append(lm.get_input_embeddings().weight.detach().clone())
        return len(seen_weights)

    probe = train.EveryNSteps(measure, every=2)
    args = train.sft_config(get_profile("smoke"), tmp_path, max_steps=5, logging_steps=1)
    train.run_training(train.sft_trainer(model, tokenizer, Dataset.from_list(rows), args, callbacks=[probe]))
    assert [step for step, _ in probe.history] == [0, 2, 4, 5]
    assert [value for _, value in probe.history] == [1, 2, 3, 4]
    assert not torch.equal(seen_weights[0], seen_weights[-1])  # the measurements saw the model being trained


def test_every_n_steps_rejects_a_zero_interval():
    import pytest

    with pytest.raises(ValueError, match="every must be"):
        train.EveryNSteps(lambda model: 0, every=0)


def test_kernel_options_follow_the_kernel_signature():
    def older(q, k, v, cu_q, cu_k, max_q, max_k, *, scale=None, is_causal=False):
        return q

    def newer(q, k, v, cu_q, cu_k, max_q, max_k, *, scale=None, window_size=(-1, -1), enable_gqa=False):
        return q

    assert train._kernel_kwargs(older, grouped=True) == {"is_causal": True}  # heads get copied instead
    assert train._kernel_kwargs(newer, grouped=True) == {"window_size": (-1, 0), "enable_gqa": True}
    assert train._kernel_kwargs(newer, grouped=False) == {"window_size": (-1, 0)}


def test_cost_table_has_one_row_per_run_in_order():
    runs = [train.TrainResult("b", steps=10, seconds=2.04, tokens=5000, tokens_per_s=2450.9, steady_tokens_per_s=2600.2,
                              peak_cuda_gib=None, losses=[(1, 3.0)]),
            train.TrainResult("a", steps=4, seconds=1.0, tokens=800, tokens_per_s=800.0, steady_tokens_per_s=810.0,
                              peak_cuda_gib=1.234, losses=[])]
    table = train.cost_table(runs)
    assert list(table.index) == ["b", "a"]
    assert table.loc["b", "wall (s)"] == 2.0 and table.loc["b", "tokens/s"] == 2451
    assert table.loc["a", "peak GPU (GiB)"] == 1.23 and table.isna().loc["b", "peak GPU (GiB)"]


def test_train_arm_measures_its_run_and_row_frees_the_model(tmp_path):
    model, tokenizer = load_model("tiny")
    rows = [{"prompt": [{"role": "user", "content": f"Say {i}."}],
             "completion": [{"role": "assistant", "content": f"{i}"}]} for i in range(6)]
    args = train.sft_config(get_profile("smoke"), tmp_path, loss="completion", max_steps=2,
                            per_device_train_batch_size=2)
    arm = train.train_arm("tiny_arm", model, tokenizer, rows, args)
    assert arm.result.steps == 2 and arm.result.tokens > 0 and arm.peak_gib >= 0
    row = arm.row(lambda m: {"layers": m.config.num_hidden_layers})
    assert row["arm"] == "tiny_arm" and row["layers"] == 2 and set(arm.cost()) <= set(row)
    assert arm.model is None


def test_preference_configs_and_the_trainers_the_notebooks_import(tmp_path):
    """TRL has removed experimental trainers without notice: the pin is the contract, and this import holds it."""
    from trl import DPOTrainer, KTOTrainer  # noqa: F401  (notebooks 14, 15, 16)
    from trl.experimental.orpo import ORPOTrainer  # noqa: F401  (notebook 16)

    profile = get_profile("smoke")
    dpo = train.dpo_config(profile, tmp_path, beta=0.2, loss_type=["ipo"])
    assert dpo.precompute_ref_log_probs and dpo.beta == 0.2 and dpo.loss_type == ["ipo"] and dpo.max_steps == -1
    kto = train.kto_config(profile, tmp_path, desirable_weight=3.0)
    assert kto.train_sampling_strategy == "sequential" and kto.precompute_ref_log_probs and kto.desirable_weight == 3.0
    orpo = train.orpo_config(profile, tmp_path, beta=0.25)
    assert orpo.beta == 0.25 and orpo.save_strategy == "no"
