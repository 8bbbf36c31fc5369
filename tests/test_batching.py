"""helpers.batching: one padding function for both sides, so generation and scoring build batches alike."""

import pytest
import torch

from helpers.batching import pad_rows

ROWS = [[5, 6, 7], [8]]


def test_left_padding_ends_every_row_in_the_last_column():
    input_ids, mask = pad_rows(ROWS, 0, side="left")
    assert input_ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_right_padding_keeps_real_tokens_at_their_unpadded_positions():
    input_ids, mask = pad_rows(ROWS, 9, side="right")
    assert input_ids.tolist() == [[5, 6, 7], [8, 9, 9]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert input_ids.dtype == mask.dtype == torch.long


def test_device_is_honoured_and_empty_rows_are_all_padding():
    input_ids, mask = pad_rows([[1, 2], []], 0, side="left", device="cpu")
    assert input_ids.device.type == mask.device.type == "cpu"
    assert input_ids.tolist() == [[1, 2], [0, 0]] and mask.tolist() == [[1, 1], [0, 0]]


@pytest.mark.parametrize(("rows", "side", "message"), [
    ([[1]], "middle", "side must be 'left' or 'right'"),
    ([], "left", "no rows to pad"),
])
def test_bad_input_is_explained(rows, side, message):
    with pytest.raises(ValueError, match=message):
        pad_rows(rows, 0, side=side)
