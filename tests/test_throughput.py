"""The block-cache throughput table of `make bench` (mdlm_eval/throughput.py), on a tiny model: counts only."""
import re

import pytest
import torch

from mdlm_eval.throughput import (DECODERS, MASK as LLADA_MASK, bench_model, format_table, main, prompts, ratio_lines,
                                  throughput_table, tokens_to_eos)

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
                            eos_ids=(EOS,))
    assert [(r.decoder, r.batch) for r in rows] == [(d, b) for b in (1, 2) for d in DECODERS]
    semi_ar = rows[0]
    assert semi_ar.forwards == 16 and 0 <= semi_ar.tokens <= 32
    assert all(r.forwards >= 1 and r.seconds > 0 for r in rows)
    assert [r.forwards for r in rows[:3]] == [16, 16, 16]  # semi_ar with a cache: the same passes
    lines = ratio_lines(rows)
    assert len(lines) == 10
    assert all(re.fullmatch(r"(threshold|semi_ar L/2)(\+prefix|\+dual)? vs semi_ar L/2 at L=32, batch [12]: "
                            r"\d+\.\dx tokens/s", x) for x in lines)
    assert len(format_table(rows).splitlines()) == 13


@pytest.mark.parametrize("argv, words", [
    (["--gen-lengths", "x"], "positive integers"),
    (["--batches", "1,0"], "positive integers"),
    (["--gen-lengths", "100"], "multiple of 32"),
    (["--prompt-length", "10"], "--prompt-length must be >= 64"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and words in capsys.readouterr().err.splitlines()[-1]


def test_the_bench_model_has_logits_shaped_like_a_trained_models():
    """Top logits well above a flat bulk, spanning under 87 nats: exp never leaves float32's normal range (where
    it runs 40x slower and would make the loop's softmax look dearer than on a real model)."""
    model = bench_model()
    ids, _ = prompts(1, length=64)
    canvas = torch.cat([ids, torch.full((1, 32), LLADA_MASK)], dim=1)
    with torch.no_grad():
        logits = model(canvas, logits_range=(64, 96)).logits[0]
    top, bottom = logits.max(-1).values, logits.min(-1).values
    assert (top - bottom < 87).all() and (top > 15).all()
    assert len(set(logits.argmax(-1).tolist())) > 1  # positions differ
