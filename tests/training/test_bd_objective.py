"""The block-diffusion SFT loss: the vectorised [x_t ; x_0] forward equals one block-causal forward per block."""
import torch

from mdlm_eval.models.toy import MdlmToyConfig, MdlmToyModel
from mdlm_eval.training.objectives import bd_attention, bd_sft_loss, mask_blocks


def tiny_bd():
    torch.manual_seed(0)
    cfg = MdlmToyConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, block_causal=True, trained_block_length=3)
    return MdlmToyModel(cfg).to(torch.float64).eval()


def batch():
    torch.manual_seed(3)
    x = torch.randint(4, 40, (2, 11))
    am = torch.ones_like(x)
    am[0, :2] = 0
    x[0, :2] = 1
    prompt = torch.zeros_like(x, dtype=torch.bool)
    prompt[:, :5] = True
    return x, am, prompt


def test_noisy_half_equals_a_block_causal_forward_per_block():
    """x_t logits of block k == block-causal forward of (x_0 before block k, x_t of block k), per row, float64."""
    m = tiny_bd()
    x, am, prompt = batch()
    masked, _ = mask_blocks(x, am, prompt, 3, 1e-3, torch.Generator().manual_seed(0))
    noisy = torch.where(masked, torch.zeros_like(x), x)
    assert masked.any()
    mask, pos = bd_attention(am, 3)
    with torch.no_grad():
        vec = m(torch.cat([noisy, x], 1), attention_mask=mask, position_ids=pos).logits
        for r in range(2):
            real = am[r].bool()
            xr, nr = x[r, real][None], noisy[r, real][None]
            n = xr.shape[1]
            for k in range(0, n, 3):
                e = min(k + 3, n)
                seq = torch.cat([xr[:, :k], nr[:, k:e]], 1)
                ref = m(seq).logits[0, k:e]
                got = vec[r, :11][real][k:e]
                assert torch.allclose(got, ref, atol=1e-12), (r, k)
        # the clean half is the plain block-causal forward
        assert torch.allclose(vec[:, 11:][am.bool()], m(x, attention_mask=am).logits[am.bool()], atol=1e-12)


def test_blocks_noised_independently_and_prompt_kept():
    x, am, prompt = batch()
    masked, p = mask_blocks(x, am, prompt, 3, 1e-3, torch.Generator().manual_seed(1))
    assert not masked[prompt].any() and not masked[~am.bool()].any()
    # p is constant inside a block and differs between blocks of a row
    assert p[1, 0] == p[1, 2] and p[1, 3] == p[1, 5] and p[1, 0] != p[1, 3]
    assert p[0, 2] == p[0, 4]  # row 0's first block is its real positions 0..2 = columns 2..4


def test_loss_is_finite_and_trains():
    m = tiny_bd().train()
    x, am, prompt = batch()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for step in range(15):
        loss = bd_sft_loss(m, x, am, prompt, 0, 1e-3, torch.Generator().manual_seed(step % 3), 3)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
