"""The block-cache throughput table of `make bench` (mdlm_eval/throughput.py), on a tiny model: counts only."""
import re

import pytest
import torch

from mdlm_eval.roofline import LLADA_8B, Pass, Rates, Shape, pass_cost
from mdlm_eval.throughput import (DECODERS, Row, batch_peer_line, bench_ids, bench_model, cost_share_lines,
                                  format_table, main, peer_line, prompts, ratio_lines, throughput_table, tokens_to_eos)

from tests.decoding.test_cache import EOS, MASK, tiny_llada


def test_tokens_are_counted_up_to_the_first_eos():
    generated = torch.tensor([[5, 6, 1, 7, 1], [5, 6, 7, 8, 9], [1, 5, 5, 5, 5]])
    assert tokens_to_eos(generated, [1]) == 2 + 5 + 0
    assert tokens_to_eos(generated, [9, 1]) == 2 + 4 + 0


def test_the_table_and_its_ratio_lines():
    def make_prompts(batch):
        ids = torch.randint(3, 40, (batch, 6), generator=torch.Generator().manual_seed(batch))
        mask = torch.ones_like(ids)
        mask[0, :2] = 0
        return ids, (mask if batch > 1 else None)

    rows = throughput_table(tiny_llada(), make_prompts, gen_lengths=(32,), batches=(1, 2), mask_id=MASK,
                            eos_ids=(EOS,), rates=Rates(1e9, 1e9))
    assert [(r.decoder, r.batch) for r in rows] == [(d, b) for b in (1, 2) for d in DECODERS]
    semi_ar = rows[0]
    assert semi_ar.forwards == 16 and 0 <= semi_ar.tokens <= 32
    assert all(r.forwards >= 1 and r.seconds > 0 and r.roofline_seconds > 0 for r in rows)
    # semi_ar's 16 uncached passes over 6 + 32 positions, logits of its block of 32, at 1e9 MAC/s and 1e9 B/s
    shape = Shape.of(tiny_llada().config)
    assert semi_ar.roofline_seconds == pytest.approx(16 * Rates(1e9, 1e9).seconds(pass_cost(shape, Pass(1, 38, 38, 32),
                                                                                              8)))
    assert [r.forwards for r in rows[:3]] == [16, 16, 16]  # semi_ar with a cache: the same passes
    lines = ratio_lines(rows)
    assert len(lines) == 12
    assert all(re.fullmatch(r"per forward at L=32, batch [12]: prefix cache \d\.\d\dx, dual cache \d\.\d\dx of an "
                            r"uncached pass", x) for x in lines[::6])
    assert all(re.fullmatch(r"(threshold|semi_ar L/2)(\+prefix|\+dual)? vs semi_ar L/2 at L=32, batch [12]: "
                            r"\d+\.\dx tokens/s measured \(\d+\.\d\d tok/fwd\)", x)
               for i, x in enumerate(lines) if i % 6)
    assert len(format_table(rows).splitlines()) == 13


@pytest.mark.parametrize("argv, words", [
    (["--gen-lengths", "x"], "positive integers"),
    (["--batches", "1,0"], "positive integers"),
    (["--gen-lengths", "100"], "multiple of 32"),
    (["--prompt-length", "10"], "--prompt-length must be >= 64"),
    (["--model", "big"], "invalid choice"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and words in capsys.readouterr().err.splitlines()[-1]


def test_the_bench_model_has_llada_8bs_cost_shares():
    """Uncached, prefix and dual passes at an 800-token prompt, L = 256 and 512: within 3 points of LLaDA-8B."""
    shape = Shape.of(bench_model().config)
    for gen_length in (256, 512):
        total = 800 + gen_length
        for p in (Pass(1, total, total, 32), Pass(1, gen_length, total, 32), Pass(1, 32, total, 32)):
            ours, llada = pass_cost(shape, p).shares(), pass_cost(LLADA_8B, p).shares()
            assert all(abs(ours[k] - llada[k]) < 0.03 for k in ours), (p, ours, llada)
    lines = cost_share_lines(shape, 800, 256)
    assert lines[1] == "  this model  uncached 96.0%/3.8%/0.2%, prefix 95.3%/3.8%/0.9%, dual 89.7%/3.6%/6.7%"
    assert lines[2] == "  LLaDA-8B    uncached 96.0%/3.8%/0.2%, prefix 95.3%/3.8%/0.9%, dual 89.8%/3.6%/6.7%"


def test_the_bench_model_has_logits_shaped_like_a_trained_models():
    """Top logits well above a flat bulk, spanning under 87 nats: exp never leaves float32's normal range (where
    it runs 40x slower and would make the loop's softmax look dearer than on a real model)."""
    model = bench_model()
    mask_id, eos_id = bench_ids(model.config.vocab_size)
    assert (mask_id, eos_id) == (7935, 7934)
    ids, _ = prompts(1, length=64, vocab=model.config.vocab_size)
    assert ids.max() < eos_id
    canvas = torch.cat([ids, torch.full((1, 32), mask_id)], dim=1)
    with torch.no_grad():
        logits = model(canvas, logits_range=(64, 96)).logits[0]
    top, bottom = logits.max(-1).values, logits.min(-1).values
    assert (top - bottom < 87).all() and (top > 15).all()
    assert len(set(logits.argmax(-1).tolist())) > 1  # positions differ


def test_ratios_at_the_published_tokens_per_forward():
    """threshold at 10 ms per forward committing 1 token per forward against semi_ar at 20 ms and 2: measured 1.0x;
    at LLaDA-8B's 2.5 tokens per forward (L = 256) 2.5x."""
    rows = [Row("semi_ar L/2", 256, 1, 2.56, 128, 256), Row("threshold", 256, 1, 2.56, 256, 256)]
    assert ratio_lines(rows) == ["threshold vs semi_ar L/2 at L=256: 1.0x tokens/s measured (1.00 tok/fwd), 2.5x at "
                                 "LLaDA-8B's published 2.5 tok/fwd"]


def test_the_peer_line_decodes_the_same_tokens():
    model = tiny_llada()
    ids = torch.randint(3, 40, (1, 6), generator=torch.Generator().manual_seed(0))
    row = throughput_table(model, lambda b: (ids, None), gen_lengths=(64,), batches=(1,), mask_id=MASK,
                           eos_ids=(EOS,))[-1]
    assert re.fullmatch(r"ours vs Fast-dLLM loop, threshold\+dual, L=64, batch 1: \d+\.\dx time \(.*\)",
                        peer_line(model, row, ids, MASK))
    row.sequences[0, -1] = (row.sequences[0, -1] + 1) % 40
    with pytest.raises(RuntimeError, match="different tokens"):
        peer_line(model, row, ids, MASK)


def test_the_batch_8_peer_line_decodes_the_same_tokens_row_by_row():
    """Ours at batch 8 (left-padded prompts of 5 to 8 tokens) against the loop on each prompt alone."""
    model = tiny_llada()
    ids = torch.randint(3, 40, (8, 8), generator=torch.Generator().manual_seed(1))
    mask = (torch.arange(8)[None, :] >= (torch.arange(8) % 4)[:, None]).long()
    ids[mask == 0] = EOS
    row = throughput_table(model, lambda b: (ids, mask), gen_lengths=(64,), batches=(8,), mask_id=MASK,
                           eos_ids=(EOS,))[-1]
    assert re.fullmatch(r"ours vs Fast-dLLM loop, threshold\+dual, L=64, batch 8: \d+\.\dx tokens/s \(.*\)",
                        batch_peer_line(model, row, ids, mask, MASK, (EOS,)))
    row.sequences[5, -1] = (row.sequences[5, -1] + 1) % 40
    with pytest.raises(RuntimeError, match="different tokens in row 5"):
        batch_peer_line(model, row, ids, mask, MASK, (EOS,))


def test_block_diffusion_row_caches_exactly():
    """The bench's block-diffusion row: the block cache and the uncached loop agree (it raises otherwise), and a
    cached pass is reported against an uncached one."""
    from mdlm_eval.block_bench import block_diffusion_lines

    lines = block_diffusion_lines(gen_length=32, prompt_length=64)
    assert "identical tokens" in lines[0] and len(lines) == 4
    assert lines[1].split()[:2] == ["block", "cache"] and " 32 fwd" in lines[1] and " 32 fwd" in lines[2]
    assert "of an uncached one" in lines[3]
