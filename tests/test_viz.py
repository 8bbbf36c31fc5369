import re

import pytest
import torch

from helpers import viz
from helpers.models import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny")


def _chat_ids(tokenizer):
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Is 2 < 3 & 4 > 1?"}, {"role": "assistant", "content": "Yes."}],
        tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _span_states(html_text):
    return re.findall(r'class="tl-token tl-(trained|masked)"', html_text)


def test_html_marks_exactly_the_trained_tokens(tokenizer):
    ids = _chat_ids(tokenizer)
    mask = [i % 3 == 0 for i in range(len(ids))]
    states = _span_states(viz.render_tokens(tokenizer, ids, mask))
    assert states == ["trained" if m else "masked" for m in mask]
    assert f"{sum(mask)} of {len(ids)} tokens trained" in viz.render_tokens(tokenizer, ids, mask)


def test_html_escapes_text_and_shows_special_tokens_literally(tokenizer):
    ids = _chat_ids(tokenizer)
    html_text = viz.render_tokens(tokenizer, ids, [True] * len(ids), title="a <b> title")
    assert "&lt;|im_start|&gt;" in html_text and "&lt;|im_end|&gt;" in html_text
    assert "&amp;" in html_text and "&gt;" in html_text
    assert "<b>" not in html_text.replace("<b>a &lt;b&gt; title</b>", "")  # no raw markup from the data
    assert "<|im" not in html_text


def test_text_variant_brackets_each_trained_run(tokenizer):
    ids = tokenizer("one two three four", add_special_tokens=False)["input_ids"]
    assert len(ids) == 4
    text = viz.render_tokens_text(tokenizer, ids, [False, True, True, False])
    assert text == "one[ two three] four"
    assert viz.render_tokens_text(tokenizer, ids, [True, False, False, True]) == "[one] two three[ four]"
    assert viz.render_tokens_text(tokenizer, ids, [False] * 4) == "one two three four"


def test_text_variant_keeps_special_tokens_and_marks_trained_newlines(tokenizer):
    ids = _chat_ids(tokenizer)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    last_end = len(ids) - 1 - ids[::-1].index(end)
    mask = [i >= last_end for i in range(len(ids))]  # the final <|im_end|> and the newline after it
    text = viz.render_tokens_text(tokenizer, ids, mask)
    assert text.endswith(f"[<|im_end|>{viz.NEWLINE_MARK}\n]")
    assert text.count("[") == 1 and "<|im_start|>user" in text


def test_trained_text_and_mask_from_labels(tokenizer):
    ids = _chat_ids(tokenizer)
    labels = torch.tensor([-100] * (len(ids) - 3) + ids[-3:])
    mask = viz.trained_labels_mask(labels)
    assert sum(mask) == 3 and mask[-3:] == [True, True, True]
    assert viz.trained_text(tokenizer, torch.tensor(ids), mask) == tokenizer.decode(ids[-3:])


def test_mismatched_or_batched_input_is_rejected(tokenizer):
    with pytest.raises(ValueError, match="3 tokens but the mask has 2"):
        viz.render_tokens(tokenizer, [1, 2, 3], [True, False])
    with pytest.raises(ValueError, match="one sequence"):
        viz.render_tokens_text(tokenizer, torch.ones(2, 3, dtype=torch.long), [True] * 3)
