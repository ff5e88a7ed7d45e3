"""The block-causal mask: blocks by real position, so a left-padded row sees what it sees alone."""
import torch

from mdlm_eval.models.block_causal import block_causal_mask


def test_blocks_from_position_zero():
    m = block_causal_mask(None, 4, 0, 6, 1, "cpu")[0, 0]
    expected = torch.tensor([[j // 4 <= i // 4 for j in range(6)] for i in range(6)])
    assert torch.equal(m, expected)


def test_window_rows_of_the_full_mask_and_padding_aware():
    am = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [1] * 8])
    full = block_causal_mask(am, 3, 0, 8, 2, "cpu")
    window = block_causal_mask(am, 3, 5, 3, 2, "cpu")
    assert torch.equal(window, full[:, :, 5:])
    # row 0 alone: 6 real tokens at positions 0..5, blocks {0,1,2}, {3,4,5}
    alone = block_causal_mask(None, 3, 0, 6, 1, "cpu")[0, 0]
    assert torch.equal(full[0, 0, 2:, 2:], alone)
    assert not full[0, 0, :, :2].any()  # padded keys are never attended
