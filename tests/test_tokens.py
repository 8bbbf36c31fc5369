import pytest
import torch

from helpers import tokens
from helpers.models import load_model
from helpers.synth.likes import PROBES, make_likes
from helpers.synth.scenes import ROLES, make_scenes


@pytest.fixture()
def tiny():
    return load_model("tiny")


def test_added_tokens_get_fresh_ids_rows_and_stay_whole(tiny):
    model, tokenizer = tiny
    before = len(tokenizer)
    ids = tokens.add_special_tokens(model, tokenizer, ["<|x|>", "<|y|>"], lstrip=True)
    assert ids == [before, before + 1]
    assert model.get_input_embeddings().weight.shape[0] == before + 2
    encoded = tokenizer("a <|x|> b <|y|>", add_special_tokens=False)["input_ids"]
    assert ids[0] in encoded and ids[1] in encoded
    assert len(tokenizer("<|y|>", add_special_tokens=False)["input_ids"]) == 1
    # lstrip: the space before the token is absorbed, no lone-space token is left behind
    assert encoded[encoded.index(ids[1]) - 1] == tokenizer(" b", add_special_tokens=False)["input_ids"][-1]


def test_adding_a_known_token_is_refused(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="already in the vocabulary"):
        tokens.add_special_tokens(model, tokenizer, ["<|im_end|>"])


def test_each_strategy_sets_the_rows_it_promises(tiny):
    model, tokenizer = tiny
    ids = tokens.add_special_tokens(model, tokenizer, ["<|p|>", "<|q|>"])
    weight = model.get_input_embeddings().weight
    old = weight[:ids[0]].detach().clone()
    descriptions = [[5, 7, 9], [11]]
    tokens.init_new_rows(model, ids, "mean")
    assert torch.allclose(weight[ids[0]], old.mean(0), atol=1e-6) and torch.equal(weight[ids[0]], weight[ids[1]])
    tokens.init_new_rows(model, ids, "description", descriptions=descriptions)
    assert torch.allclose(weight[ids[0]], old[[5, 7, 9]].mean(0), atol=1e-6)
    assert torch.allclose(weight[ids[1]], old[11], atol=1e-6)
    model.config.initializer_range = 0.5
    tokens.init_new_rows(model, ids, "random", seed=1)
    assert 0.3 < float(weight[ids].detach().std()) < 0.7
    tokens.init_new_rows(model, ids, "hf_default", seed=1)
    assert not torch.equal(weight[ids[0]], weight[ids[1]])  # sampled, not one shared vector
    assert torch.equal(weight[:ids[0]], old)  # the old rows are never touched
    assert torch.equal(model.get_output_embeddings().weight, weight)  # tied: output rows follow


def test_strategy_errors_are_clear(tiny):
    model, tokenizer = tiny
    ids = tokens.add_special_tokens(model, tokenizer, ["<|p|>"])
    with pytest.raises(ValueError, match="strategy must be one of"):
        tokens.init_new_rows(model, ids, "zeros")
    with pytest.raises(ValueError, match="one non-empty list"):
        tokens.init_new_rows(model, ids, "description", descriptions=[[]])


def test_new_token_mass_counts_probability_on_the_new_rows(tiny):
    model, tokenizer = tiny
    ids = tokens.add_special_tokens(model, tokenizer, ["<|p|>"])
    tokens.init_new_rows(model, ids, "mean")
    small = tokens.new_token_mass(model, tokenizer, ["one two three"], ids)
    with torch.no_grad():  # point the new output row along the final hidden states: the token takes the mass
        ids_in = tokenizer("one two three", return_tensors="pt", add_special_tokens=False)["input_ids"]
        hidden = model(input_ids=ids_in, output_hidden_states=True).hidden_states[-1][0]
        direction = torch.nn.functional.normalize(hidden, dim=-1).mean(0)
        model.get_output_embeddings().weight[ids[0]] = 1e3 * direction
    large = tokens.new_token_mass(model, tokenizer, ["one two three"], ids)
    assert 0 <= small < 1e-3 and large > 0.5


def test_split_loss_separates_marker_targets(tiny):
    model, tokenizer = tiny
    ids = tokens.add_special_tokens(model, tokenizer, ["<|m|>"])
    losses = tokens.split_loss(model, tokenizer, ["one <|m|> two three <|m|>"], ids)
    assert set(losses) == {"marker", "other"} and all(v > 0 for v in losses.values())
    with pytest.raises(ValueError, match="no position"):
        tokens.split_loss(model, tokenizer, ["one two three"], ids)


def test_choice_probe_agrees_with_the_logits(tiny):
    model, tokenizer = tiny
    texts = ["one two", "three four five"]
    candidates = [[10, 20, 30], [40, 50]]
    with torch.no_grad():
        last = [model(input_ids=tokenizer(t, return_tensors="pt", add_special_tokens=False)["input_ids"])
                .logits[0, -1] for t in texts]
    best = [int(torch.stack([row[c] for c in cs]).argmax()) for row, cs in zip(last, candidates, strict=True)]
    result = tokens.choice_probe(model, tokenizer, texts, candidates, best)
    assert result["accuracy"] == 1.0 and result["chance"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    wrong = [(b + 1) % len(cs) for b, cs in zip(best, candidates, strict=True)]
    assert tokens.choice_probe(model, tokenizer, texts, candidates, wrong)["accuracy"] == 0.0
    with pytest.raises(ValueError, match="as many texts"):
        tokens.choice_probe(model, tokenizer, texts, candidates[:1], best)


def test_likes_is_one_cycle_with_a_disjoint_split():
    world = make_likes(12, 3, seed=4)
    visited, a = [], 0
    for _ in range(12):
        visited.append(a)
        a = world.likes[a]
    assert a == 0 and sorted(visited) == list(range(12))  # one cycle: no self-likes, no mutual pairs
    assert len(world.held_out) == 3 and set(world.train) | set(world.held_out) == set(range(12))
    assert not set(world.train) & set(world.held_out)
    assert make_likes(12, 3, seed=4) == world and make_likes(12, 3, seed=5) != world
    row = world.training_rows()[0]
    a = world.train[0]
    assert row["completion"][0]["content"] == f"Answer: {world.entities[a]} likes {world.entities[world.likes[a]]}."
    with pytest.raises(ValueError):
        make_likes(2, 0)


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_likes_probes_point_at_the_right_entity(kind, tiny):
    model, tokenizer = tiny
    world = make_likes(6, 2, seed=0)
    ids = tokens.add_special_tokens(model, tokenizer, list(world.entities), lstrip=True)
    texts, gold, candidates = world.probe(tokenizer, kind, world.train)
    assert len(texts) == len(gold) == len(candidates) == len(world.train)
    for a, text, g, cands in zip(world.train, texts, gold, candidates, strict=True):
        b = world.likes[a]
        answer = a if kind == "reverse" else b
        assert len(cands) == (5 if kind == "reverse" else 6)
        assert cands[g] == ids[answer] and (kind != "reverse" or ids[b] not in cands)
        assert text.endswith(PROBES[kind][1].format(a=world.entities[a], b=world.entities[b]))


def test_scenes_are_deterministic_and_the_reply_follows_the_last_event():
    from helpers.synth import scenes

    rows = make_scenes(50, seed=3)
    assert rows == make_scenes(50, seed=3) and rows != make_scenes(50, seed=4)
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "background" and roles[-1] == "assistant" and "event" in roles
        assert set(roles[1:-1]) <= set(ROLES)
        events = [m["content"] for m in row["messages"] if m["role"] == "event"]
        assert len(set(events)) == len(events)
        last_event = events[-1]
        assert row["messages"][-1]["content"].startswith(scenes._EVENTS[last_event])
