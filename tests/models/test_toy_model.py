"""The toy model's architecture: shapes, bidirectionality, left-padding invariance, dtype agnosticism."""
import torch

from mdlm_eval.models.toy import MdlmToyConfig, MdlmToyModel


def tiny(dtype=torch.float64, **kw):
    torch.manual_seed(0)
    cfg = MdlmToyConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, **kw)
    return MdlmToyModel(cfg).to(dtype).eval()


def test_logits_shape_and_dtype():
    m = tiny(torch.float32)
    out = m(torch.randint(0, 40, (3, 11)))
    assert out.logits.shape == (3, 11, 40) and out.logits.dtype == torch.float32
    assert tiny(torch.float64)(torch.randint(0, 40, (2, 5))).logits.dtype == torch.float64


def test_attention_is_bidirectional():
    """Changing the last token changes the logits at the first position (no causal mask)."""
    m = tiny()
    x = torch.randint(4, 40, (1, 8))
    y = x.clone()
    y[0, -1] = (x[0, -1] + 1) % 40
    assert not torch.allclose(m(x).logits[0, 0], m(y).logits[0, 0])


def test_left_padding_gives_the_logits_of_the_row_alone():
    m = tiny()
    torch.manual_seed(1)
    a = torch.randint(4, 40, (1, 7))
    b = torch.randint(4, 40, (1, 10))
    pad = 0
    batch = torch.cat([torch.cat([torch.full((1, 3), pad), a], 1), b])
    mask = torch.ones_like(batch)
    mask[0, :3] = 0
    with torch.no_grad():
        padded = m(batch, attention_mask=mask).logits
        alone_a = m(a, attention_mask=torch.ones_like(a)).logits
        alone_a_nomask = m(a).logits
        alone_b = m(b).logits
    assert torch.allclose(padded[0, 3:], alone_a[0], atol=1e-10, rtol=0)
    assert torch.allclose(alone_a, alone_a_nomask, atol=1e-12, rtol=0)
    assert torch.allclose(padded[1], alone_b[0], atol=1e-10, rtol=0)
    # the padding is really hidden: another pad value changes nothing
    batch2 = batch.clone()
    batch2[0, :3] = 17
    with torch.no_grad():
        assert torch.allclose(m(batch2, attention_mask=mask).logits[0, 3:], alone_a[0], atol=1e-10, rtol=0)


@torch.no_grad()
def test_cached_windows_equal_the_full_forward_with_padding():
    """The block-cache protocol: a window (dual: a block; prefix: to the end) over the cache of the same canvas
    gives the full forward's logits, left padding honoured; a stale cache gives other logits."""
    from mdlm_eval.models import load_model

    model = load_model("toy", dtype="float64").model
    g = torch.Generator().manual_seed(0)
    x = torch.randint(4, model.config.vocab_size, (2, 20), generator=g)
    m = torch.ones_like(x)
    m[1, :5] = 0
    out = model(x, attention_mask=m, use_cache=True)
    for start, end in ((8, 12), (8, 20)):
        window = model(x[:, start:end], attention_mask=m, past_key_values=out.past_key_values, window_start=start)
        torch.testing.assert_close(window.logits, out.logits[:, start:end], rtol=0, atol=1e-10)
    y = x.clone()
    y[:, 14:] = x[:, 4:10]
    stale = model(y[:, 8:12], attention_mask=m, past_key_values=out.past_key_values, window_start=8).logits
    assert not torch.allclose(stale, model(y, attention_mask=m).logits[:, 8:12], atol=1e-6)
