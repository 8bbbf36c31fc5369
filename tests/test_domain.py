"""Tests for helpers.synth.domain: determinism, splits, facts, and that the terms are new to the tokenizer."""

import re

import pytest

from helpers.models import load_tokenizer
from helpers.synth import domain


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_domain_and_documents_are_deterministic_and_seed_dependent():
    assert domain.make_domain(3) == domain.make_domain(3)
    assert domain.make_domain(3) != domain.make_domain(4)
    made = domain.make_domain(0)
    assert made.documents(12, seed=1) == made.documents(12, seed=1)
    assert made.documents(12, seed=1) != made.documents(12, seed=2)


def test_each_device_has_its_own_facts():
    made = domain.make_domain(0)
    for field in ("component", "substance", "process", "temperature"):
        values = [getattr(device, field) for device in made.devices]
        assert len(set(values)) == len(values), field
    assert {device.name for device in made.devices} == set(domain.DEVICES)


def test_documents_state_only_their_device_facts_and_cover_devices_evenly():
    made = domain.make_domain(0)
    by_name = {device.name: device for device in made.devices}
    docs = made.documents(60, seed=0)
    assert {doc["device"] for doc in docs} == set(domain.DEVICES)
    for doc in docs:
        device = by_name[doc["device"]]
        mentioned = {term for term in domain.TERMS if re.search(rf"\b{term}\b", doc["text"])}
        own = {device.name, device.component, device.substance, device.process}
        assert doc["device"] in mentioned and mentioned <= own, doc["text"]
        numbers = set(re.findall(r"(\d+) degrees", doc["text"]))
        assert numbers <= {str(device.temperature)}, doc["text"]


def test_held_out_documents_share_no_sentence_with_training_documents():
    made = domain.make_domain(0)

    def sentences(docs):
        return {re.sub(r"\d+", "N", s) for doc in docs for s in re.split(r"(?<=\.) ", doc["text"])[1:]}

    train, held_out = made.documents(200), made.documents(100, split="held_out")
    assert not sentences(train) & sentences(held_out)
    assert all(doc["split"] == "held_out" for doc in held_out)
    assert len({doc["id"] for doc in train + held_out}) == 300


def test_bad_arguments_are_clear_errors():
    made = domain.make_domain(0)
    with pytest.raises(ValueError, match="split"):
        made.documents(2, split="test")
    with pytest.raises(ValueError, match="sentences"):
        made.documents(2, split="held_out", sentences=len(domain.HELD_OUT_TEMPLATES) + 1)
    with pytest.raises(ValueError, match="n must be"):
        made.documents(-1)


def test_terms_are_new_words_that_split_into_several_pieces(tokenizer):
    vocab = tokenizer.get_vocab()
    assert len(set(domain.TERMS)) == len(domain.TERMS) == 24
    for term in domain.TERMS:
        pieces = tokenizer(" " + term, add_special_tokens=False)["input_ids"]
        assert len(pieces) >= 3, (term, tokenizer.convert_ids_to_tokens(pieces))
        assert "Ġ" + term not in vocab and term not in vocab
    # No term contains another: an added token can then never cut a longer term in two.
    assert not [(a, b) for a in domain.TERMS for b in domain.TERMS if a != b and a in b]


def test_terms_appear_only_lowercase_after_a_space():
    docs = domain.make_domain(0).documents(100) + domain.make_domain(0).documents(50, split="held_out")
    for doc in docs:
        for term in domain.TERMS:
            assert doc["text"].lower().count(term) == doc["text"].count(" " + term), doc["text"]
