"""helpers.evals with the tiny model: generation, graders, drift, format collapse, reward scoring.

The stock tiny model is nearly the identity map from each token to itself (its layers start with
small weights), so greedy decoding repeats the last prompt token whatever came before. Tests whose
point is that *context* is handled right (padding, ordering, batching) use ``mixed``: the same model
with its layer weights redrawn larger from a fixed seed, whose outputs depend on the whole prompt.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from helpers import data
from helpers.evals import (
    CallCases,
    code_score,
    constraint_score,
    exact_match,
    extract_code,
    extract_number,
    generate,
    generate_with_stats,
    is_label,
    label_share,
    mean_token_kl,
    normalize_text,
    numeric_match,
    pairwise_win_rate,
    perplexity,
    render_prompts,
    score_with_reward_model,
    win_rate,
)
from helpers.models import load_model, load_reward_model

PROMPTS = [
    "Hi",
    "What is the capital of France? Please answer in two sentences.",
    "2+2?",
    "Tell me a short story about a dog who learns to swim in the sea.",
    "xxxxx",
    "List three colours",
    "Why is the sky blue?",
    "A much longer prompt that goes on and on about many different things, so that the batch holds "
    "rows of very different lengths and needs a lot of padding on the left.",
]
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "Hello",
    "A library keeps books in order so that readers can find them again.",
]


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


def _generated_ids(model, tokenizer, prompt: str, max_new_tokens: int) -> list[int]:
    """Greedy ids for one unpadded prompt, straight from model.generate (stops at the model's EOS)."""
    text = render_prompts(tokenizer, [prompt])[0]
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist()


# ---------------------------------------------------------------- generation


def test_generate_keeps_order_and_matches_unbatched_greedy(mixed):
    model, tokenizer = mixed
    batched = generate(model, tokenizer, PROMPTS, max_new_tokens=12, batch_size=8, progress=False)
    one_by_one = generate(model, tokenizer, PROMPTS, max_new_tokens=12, batch_size=1, progress=False)
    assert len(batched) == len(PROMPTS) and all(isinstance(text, str) for text in batched)
    assert len(set(batched)) == len(PROMPTS)  # distinct outputs, so a mix-up of rows would show
    assert batched == one_by_one
    assert generate(model, tokenizer, PROMPTS[::-1], max_new_tokens=12, batch_size=3, progress=False) \
        == batched[::-1]


def test_greedy_is_deterministic_and_leaves_tokenizer_alone(mixed):
    model, tokenizer = mixed
    side = tokenizer.padding_side
    first = generate(model, tokenizer, PROMPTS[:4], max_new_tokens=8, progress=False)
    assert generate(model, tokenizer, PROMPTS[:4], max_new_tokens=8, progress=False) == first
    assert tokenizer.padding_side == side


def test_max_new_tokens_is_respected(mixed):
    model, tokenizer = mixed
    texts, stats = generate_with_stats(model, tokenizer, PROMPTS, max_new_tokens=5, progress=False)
    assert stats.prompts == len(PROMPTS)
    assert stats.new_tokens == 5 * len(PROMPTS)  # this model never emits <|im_end|> that early
    assert stats.seconds > 0 and stats.tokens_per_s == pytest.approx(stats.new_tokens / stats.seconds)
    expected = [tokenizer.decode(_generated_ids(model, tokenizer, p, 5), skip_special_tokens=True)
                for p in PROMPTS[:2]]
    assert texts[:2] == expected


def test_each_row_stops_at_its_own_eos(mixed, monkeypatch):
    model, tokenizer = mixed
    full = [_generated_ids(model, tokenizer, prompt, 12) for prompt in PROMPTS]
    # Declare as EOS a token that prompt 1 produces for the first time at step 3 or later.
    stop_id = next(tok for i, tok in enumerate(full[1]) if i >= 3 and tok not in full[1][:i])
    monkeypatch.setattr(model.generation_config, "eos_token_id", stop_id)
    texts, stats = generate_with_stats(model, tokenizer, PROMPTS, max_new_tokens=12, progress=False)
    expected_tokens = 0
    for ids, text in zip(full, texts, strict=True):
        stop = ids.index(stop_id) if stop_id in ids else len(ids)
        assert text == tokenizer.decode(ids[:stop], skip_special_tokens=True)
        expected_tokens += min(stop + 1, len(ids))  # the EOS itself is counted
    assert len(texts[1]) < len(tokenizer.decode(full[1], skip_special_tokens=True))
    assert stats.new_tokens == expected_tokens < 12 * len(PROMPTS)


def test_out_of_memory_halves_the_batch_and_keeps_the_results(mixed, monkeypatch):
    model, tokenizer = mixed
    expected = generate(model, tokenizer, PROMPTS, max_new_tokens=4, batch_size=8, progress=False)
    real_generate = model.generate

    def small_memory(*args, **kwargs):  # behaves like a GPU that fits at most two rows
        if kwargs["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("simulated: no room for this batch")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", small_memory)
    with pytest.warns(UserWarning, match="out of memory") as caught:
        texts, stats = generate_with_stats(model, tokenizer, PROMPTS, max_new_tokens=4, batch_size=8,
                                           progress=False)
    assert [str(w.message)[-12:] for w in caught] == ["batches of 4", "batches of 2"]
    assert texts == expected and stats.batch_size == 2


def test_sampling_is_seeded_and_keeps_the_global_rng(mixed):
    model, tokenizer = mixed
    state = torch.get_rng_state()
    a = generate(model, tokenizer, PROMPTS[:4], max_new_tokens=8, do_sample=True, seed=1, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert generate(model, tokenizer, PROMPTS[:4], max_new_tokens=8, do_sample=True, seed=1,
                    progress=False) == a
    assert generate(model, tokenizer, PROMPTS[:4], max_new_tokens=8, do_sample=True, seed=2,
                    progress=False) != a


def test_message_lists_system_prompt_and_raw_prompts(tiny):
    model, tokenizer = tiny
    rendered = render_prompts(tokenizer, ["Hi", [{"role": "user", "content": "Hi"}]], system="Be brief.")
    assert rendered[0] == rendered[1]
    assert "Be brief." in rendered[0] and rendered[0].endswith("<|im_start|>assistant\n")
    out = generate(model, tokenizer, [[{"role": "user", "content": "Hi"}], "Hello"], max_new_tokens=3,
                   progress=False)
    assert len(out) == 2
    assert len(generate(model, tokenizer, ["Once upon a time"], chat=False, max_new_tokens=3,
                        progress=False)) == 1
    with pytest.raises(TypeError, match="plain strings"):
        render_prompts(tokenizer, [[{"role": "user", "content": "Hi"}]], chat=False)


# ---------------------------------------------------------------- graders


def test_normalize_and_exact_match():
    assert normalize_text is data.normalize_text  # one home, beside the deduplication key
    assert normalize_text("  The Eiffel   Tower! ") == "eiffel tower"
    assert exact_match("The Eiffel Tower.", "eiffel tower")
    assert exact_match("Paris", ["London", "paris"])
    assert exact_match("U.S.A.", "usa")
    assert not exact_match("Paris, France", "Paris")
    assert not exact_match("an apple", "apples")
    with pytest.raises(ValueError):
        exact_match("x", [])


@pytest.mark.parametrize("text, expected", [
    ("She has 3 apples, then 5 more.\n#### 8", 8),
    ("#### 1,234", 1234),
    ("Step one gives 12. #### -7 and 99 later", -7),
    ("So the answer is 42.", 42),
    ("The final answer: $1,250.50 in total, 3 items", 1250.5),
    ("I think 3 or 4, maybe 17", 17),
    ("temperature fell to -12 degrees", -12),
    ("pages 3-5", 5),
    ("It costs 2.5 dollars.", 2.5),
    ("1,000,000 people", 1000000),
    ("\u22124 is negative", -4),
    ("no digits here", None),
    ("", None),
])
def test_extract_number(text, expected):
    value = extract_number(text)
    assert value == expected and type(value) is type(expected)


def test_numeric_match():
    assert numeric_match("... so #### 1,200", 1200)
    assert numeric_match("the answer is 0.5", "1/2 is #### 0.5")
    assert numeric_match("3.0", 3)
    assert not numeric_match("#### 12", 13)
    assert not numeric_match("I don't know", 13)
    with pytest.raises(ValueError, match="no number"):
        numeric_match("12", "twelve")


def test_constraint_score_uses_the_shared_checker():
    responses = ["hello world, this is fine", "Hello World", "- one\n- two"]
    constraints = [
        [{"type": "lowercase"}, {"type": "max_words", "n": 5}],
        [{"type": "lowercase"}, {"type": "max_words", "n": 5}],
        [{"type": "bullets_exact", "n": 2}],
    ]
    score = constraint_score(responses, constraints)
    assert score["per_prompt"] == [True, False, True]
    assert score["prompt_level"] == pytest.approx(2 / 3)
    assert score["constraint_level"] == pytest.approx(4 / 5)
    assert score["per_type"] == {"bullets_exact": 1.0, "lowercase": 0.5, "max_words": 1.0}
    assert score["per_type_counts"]["lowercase"] == [1, 2]
    with pytest.raises(ValueError):
        constraint_score(["x"], [[{"type": "no_such_type"}]])


def test_constraint_score_gives_an_empty_answer_nothing():
    constraints = [{"type": "max_words", "n": 50}, {"type": "no_commas"}, {"type": "exclude_words", "words": ["x"]}]
    score = constraint_score(["", "  \n"], [constraints, constraints])
    assert score["prompt_level"] == 0 and score["constraint_level"] == 0


def test_extract_code():
    assert extract_code("Here:\n```python\ndef f():\n    return 1\n```\nDone.") == "def f():\n    return 1\n"
    assert extract_code("```bash\nls\n```\n```\nx = 1\n```") == "x = 1\n"
    assert extract_code("```py\ndef f():\n    return 2") == "def f():\n    return 2"  # cut off mid-block
    assert extract_code("def f():\n    return 3\n") == "def f():\n    return 3\n"


def test_code_score_runs_the_sandbox():
    completions = [
        "Sure!\n```python\ndef double(x):\n    return 2 * x\n```",
        "def double(x):\n    return x + 1\n",
        "```python\ndef double(x) return",
    ]
    for tests in (CallCases("double", (((4,), 8), ((0,), 0))), "assert double(4) == 8\nassert double(0) == 0\n"):
        score = code_score(completions, [tests] * 3)
        assert score["passed"] == 1 and score["n"] == 3 and score["pass_rate"] == pytest.approx(1 / 3)
        assert score["statuses"] == {"passed": 1, "failed": 1, "error": 1}
        assert [r.status for r in score["results"]] == ["passed", "failed", "error"]


# ---------------------------------------------------------------- drift


def _hand_logits(model, tokenizer, text: str) -> torch.Tensor:
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=ids).logits[0].float()


def test_kl_is_zero_against_itself_and_positive_after_a_change(tiny):
    model, tokenizer = tiny
    assert abs(mean_token_kl(model, model, tokenizer, TEXTS)) < 1e-6
    changed = copy.deepcopy(model)
    weight = changed.model.layers[0].mlp.down_proj.weight
    with torch.no_grad():
        weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(1)))
    assert mean_token_kl(changed, model, tokenizer, TEXTS) > 1e-4


def test_kl_direction_and_padding_match_a_hand_computation(tiny, mixed):
    ref, tokenizer = tiny
    model = copy.deepcopy(mixed[0])
    with torch.no_grad():
        model.model.norm.weight.mul_(40)  # sharp next-token distributions, so the two directions differ
    forward = reverse = 0.0
    count = 0
    for text in TEXTS:
        logp = F.log_softmax(_hand_logits(model, tokenizer, text), -1)
        logq = F.log_softmax(_hand_logits(ref, tokenizer, text), -1)
        forward += float((logp.exp() * (logp - logq)).sum())  # KL(new || ref), summed over positions
        reverse += float((logq.exp() * (logq - logp)).sum())
        count += logp.shape[0]
    expected = forward / count
    assert abs(reverse / count - expected) > 0.1 * expected  # the test can tell the directions apart
    assert mean_token_kl(model, ref, tokenizer, TEXTS, batch_size=4) == pytest.approx(expected, rel=1e-4)
    assert mean_token_kl(model, ref, tokenizer, TEXTS, batch_size=1) == pytest.approx(expected, rel=1e-4)


def _hand_nll(model, tokenizer, text: str) -> tuple[float, int]:
    """Summed negative log-likelihood of a text's tokens after the first, and how many there are."""
    ids = torch.tensor(tokenizer(text)["input_ids"])
    logp = F.log_softmax(_hand_logits(model, tokenizer, text), -1)
    return -float(logp[:-1].gather(1, ids[1:, None]).sum()), len(ids) - 1


def test_perplexity_is_exp_of_token_weighted_nll(mixed):
    model, tokenizer = mixed
    nll, count = _hand_nll(model, tokenizer, TEXTS[0])
    assert perplexity(model, tokenizer, TEXTS[:1]) == pytest.approx(math.exp(nll / count), rel=1e-4)
    parts = [_hand_nll(model, tokenizer, text) for text in TEXTS]
    expected = math.exp(sum(n for n, _ in parts) / sum(c for _, c in parts))
    assert perplexity(model, tokenizer, TEXTS, batch_size=4) == pytest.approx(expected, rel=1e-4)
    assert perplexity(model, tokenizer, TEXTS, batch_size=3) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="shorter than two tokens"):
        perplexity(model, tokenizer, ["Hello"])


# ---------------------------------------------------------------- format collapse


@pytest.mark.parametrize("response, counted", [
    ("True", True), ("false.", True), ("  TRUE!", True), ("**False**", True), ('"True"', True),
    ("False, because the text says so.", True), ("True\n\nThe passage states ...", True),
    ("Truly, I cannot say.", False), ("It is true.", False), ("Answer: True", False), ("", False),
])
def test_is_label(response, counted):
    assert is_label(response) is counted


def test_label_share():
    assert label_share(["True", "Paris", "false", "42"]) == 0.5
    assert label_share(["Yes.", "no", "maybe"], labels=("yes", "no")) == pytest.approx(2 / 3)
    assert label_share(["not sure at all"], labels=("Not sure",)) == 1.0
    with pytest.raises(ValueError):
        label_share([])
    with pytest.raises(TypeError):
        label_share(["True"], labels="True")


# ---------------------------------------------------------------- reward models and win rates


@pytest.fixture(scope="module")
def reward_model(tiny):
    torch.manual_seed(0)
    rm, _ = load_reward_model("tiny")
    assert rm.config.pad_token_id == tiny[1].pad_token_id  # set by the loader: padded rows can be scored
    return rm


def test_reward_scores_do_not_depend_on_padding_or_batch(reward_model, tiny):
    _, tokenizer = tiny
    prompts = ["Hi", "What is two plus two?", "Name a colour", "Tell me about the sea and its tides"]
    responses = ["Hello there, how can I help you today?", "4", "Blue.", "The sea is large."]
    alone = [score_with_reward_model(reward_model, tokenizer, [p], [r], batch_size=1)[0]
             for p, r in zip(prompts, responses, strict=True)]
    batched = score_with_reward_model(reward_model, tokenizer, prompts, responses, batch_size=4)
    assert batched == pytest.approx(alone, abs=1e-5)
    assert len(set(round(s, 4) for s in alone)) == len(alone)  # the scores actually differ
    side = tokenizer.padding_side
    try:
        tokenizer.padding_side = "left"
        assert score_with_reward_model(reward_model, tokenizer, prompts[::-1], responses[::-1],
                                       batch_size=3) == pytest.approx(alone[::-1], abs=1e-5)
    finally:
        tokenizer.padding_side = side


def test_scoring_and_generation_run_in_eval_mode_and_restore_train_mode(tiny, reward_model):
    """Dropout must be off while we measure, and a model handed over mid-training must come back training."""
    from helpers.evals import generate_until_stop

    model, tokenizer = tiny
    calls = {
        "generate": (model, lambda: generate(model, tokenizer, ["Hi"], max_new_tokens=2, progress=False)),
        "generate_until_stop": (model, lambda: generate_until_stop(model, tokenizer, ["Hi"], max_new_tokens=2,
                                                                   stop_ids=[0])),
        "score_with_reward_model": (reward_model, lambda: score_with_reward_model(reward_model, tokenizer,
                                                                                  ["Hi"], ["Hello"])),
    }
    for name, (net, call) in calls.items():
        seen: list[bool] = []
        handle = net.register_forward_pre_hook(lambda module, args, seen=seen: seen.append(module.training))
        net.train()
        try:
            call()
        finally:
            handle.remove()
            trained = net.training
            net.eval()
        assert seen and not any(seen), f"{name} ran a forward pass in train mode"
        assert trained, f"{name} left the model in eval mode"


def test_win_rate_arithmetic():
    assert win_rate([1, 2, 3, 4], [0, 2, 5, 3.5]) == {"win": 0.5, "tie": 0.25, "loss": 0.25}
    assert win_rate([1, 2, 3, 4], [0, 2, 5, 3.5], tie_tolerance=0.6) == {"win": 0.25, "tie": 0.5,
                                                                          "loss": 0.25}
    with pytest.raises(ValueError):
        win_rate([1], [1, 2])
    judge = lambda prompt, response: float(prompt.lower() in response.lower())  # noqa: E731
    result = pairwise_win_rate(["cat", "dog"], ["a cat", "no"], ["nothing", "dog!"], judge)
    assert result == {"win": 0.5, "tie": 0.0, "loss": 0.5}
