"""What `mdlm-eval run` prints: the decoder as it ran, per task n, score ± SE and NFE, and the folder."""
from mdlm_eval.decoding import load_spec
from mdlm_eval.summary import decoder_changes, per_task, summary_lines

RESULTS = {
    "results": {
        "mdlm_toy_sudoku": {"sample_len": 6, "acc,none": 0.7708, "acc_stderr,none": 0.0818,
                            "solved,none": 0.5, "solved_stderr,none": 0.2236},
        "mdlm_toy_countdown": {"sample_len": 6, "acc,none": 2 / 3, "acc_stderr,none": "N/A"},
        "mdlm_toy": {"sample_len": 12, "acc,none": 0.7188, "acc_stderr,none": 0.1131},
    },
    "group_subtasks": {"mdlm_toy": ["mdlm_toy_sudoku", "mdlm_toy_countdown"]},
}
RECORDS = [{"task": "mdlm_toy_sudoku", "nfe": 16}] * 6 + [{"task": "mdlm_toy_countdown", "nfe": 8}] * 6


def manifest(**extra) -> dict:
    spec = load_spec("semi_ar").with_overrides(block_length=8)
    return {
        "model": "toy", "peft": None, "decoder": "semi_ar", "decoder_spec": spec.to_dict(), "steps": 16,
        "gen_length": 32, "samples": 12, "nfe_per_sample": 12.0, "tokens_per_forward": 2.67, "seconds_per_sample": 0.5,
        "scores": {t: {k.split(",")[0]: v for k, v in m.items() if "," in k and "_stderr" not in k}
                   for t, m in RESULTS["results"].items()},
        "per_task": per_task(RESULTS, RECORDS), "folder": "runs/toy/semi_ar_steps-half_L32_bl8",
        "decoder_changes": decoder_changes(load_spec("semi_ar"), spec, {"block_length": 8, "cache": "none"}),
        **extra,
    }


def test_per_task_counts_scores_and_forward_passes():
    table = per_task(RESULTS, RECORDS)
    assert table["mdlm_toy_sudoku"] == {"n": 6, "nfe_per_sample": 16.0, "stderr": {"acc": 0.0818, "solved": 0.2236}}
    assert table["mdlm_toy_countdown"]["stderr"] == {"acc": None}  # lm-eval's "N/A"
    assert table["mdlm_toy"]["n"] == 12 and table["mdlm_toy"]["nfe_per_sample"] == 12.0  # the group's tasks


def test_summary_shows_decoder_as_run_scores_with_se_and_folder():
    text = "\n".join(summary_lines(manifest()))
    assert "decoder  semi_ar: 16 steps (half), block 8 of L 32, cache none" in text
    assert "overrides: block_length 32 -> 8" in text and "cache none ->" not in text  # only what changed
    assert "mdlm_toy_sudoku  n 6, NFE/sample 16.0" in text and "mdlm_toy  n 12, NFE/sample 12.0" in text
    assert "  acc      77.08 ± 8.18 %" in text and "  solved   50.00 ± 22.36 %" in text
    assert "  acc      66.67 ± n/a %" in text
    assert text.endswith("written  runs/toy/semi_ar_steps-half_L32_bl8")
    assert max(len(line) for line in text.splitlines()) <= 80


def test_summary_of_a_full_canvas_block_and_an_adaptive_rule():
    full = manifest(decoder_spec=load_spec("semi_ar").to_dict(), decoder_changes={})
    assert "block 32 of L 32 (one block: no semi-AR), cache none" in summary_lines(full)[1]
    adaptive = manifest(decoder="threshold", decoder_spec=load_spec("threshold").to_dict(), steps=None,
                        decoder_changes={})
    assert summary_lines(adaptive)[1].startswith("decoder  threshold: adaptive, uncapped, block 32")
