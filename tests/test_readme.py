"""The commands of the README and of docs/*.md run as written where they can run on the toy; every other one is
named with the reason."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Commands that run here (offline, on the toy): command -> (working folder, text the output must show)
RUNNABLE = {
    "mdlm-eval run --decoder eoser_ass --steps log": ("tmp", "mdlm_toy_countdown"),
    "lm_eval --model mdlm --model_args pretrained=toy,decoder=eoser_ass,steps=log --tasks mdlm_toy_countdown":
        ("tmp", "mdlm_toy_countdown"),
    "lm_eval --model mdlm --tasks mdlm_toy_countdown --limit 8": ("tmp", "mdlm_toy_countdown"),
    "mdlm-eval run --peft toy-cj-grpo --decoder eoser_ass --steps log --output-path results": ("tmp", "toy-cj-grpo"),
    "mdlm-eval toy path": ("tmp", "checkpoint"),
    "mdlm-eval sweep sweeps/toy.yaml --dry-run": ("repo", "runs/toy/eoser_ass_steps-log_L32"),
    "mdlm-eval rescore --format samples results/": ("repo", "mdlm_toy_sudoku"),
    "mdlm-eval compare results/toy/semi_ar_steps-full_L32_bl8 results/toy/full_diffusion_steps-full_L32":
        ("repo", "B - A [95% CI]"),
    "mdlm-eval train cj-grpo --config toy --dry-run": ("tmp", "global batch per optimizer step: 4 prompts x 6"),
}
# Commands that need what a test here does not have, and why
NEEDS_DREAM = "a Dream-7B checkpoint from the hub and a GPU (tests/test_native_end_to_end.py runs a tiny Dream)"
ELSEWHERE = {
    "make run": "installs a virtual environment (what `make test` itself runs in)",
    "make test": "the test suite itself",
    "mdlm-eval run --decoder semi_ar --block-length 8 --templates all --limit 8":
        "three toy runs; tests/test_templates.py checks the prompts, the run folders and the leaderboard rows",
    "mdlm-eval audit --decoder semi_ar --steps 4 --block-length 8 --cache prefix --limit 2":
        "tests/test_audit.py runs this audit on the toy (in one process; two are tested in tests/test_run.py)",
    "make leaderboard": "rewrites the shipped results/ (tests/test_leaderboard.py builds leaderboards)",
    "pip wheel --no-deps . -w dist/": "tests/test_install.py builds and installs the wheel",
    "pip install dist/mdlm_eval-0.1.0-py3-none-any.whl": "tests/test_install.py builds and installs the wheel",
    "cd ~/anywhere && mdlm-eval run": "tests/test_install.py runs the installed wheel from another folder",
    "mdlm-eval sweep sweeps/toy.yaml": "the whole toy grid (about 15 minutes)",
    "mdlm-eval train cj-grpo --config llada_paper --processes 8 --dry-run":
        "needs LLaDA-8B-Instruct's config.json from the hub; tests/training/test_checkpointing.py plans the paper "
        "config on the LLaDA fixture's config.json",
    "accelerate launch --config_file mdlm_eval/training/configs/ddp_8gpu.yaml -m mdlm_eval train cj-grpo --config "
    "llada_paper --task d1_sudoku --out runs/llada-cj-grpo": "8 GPUs and d1's Sudoku training file; "
                                                              "tests/training/test_d1_train_data.py loads the set",
    "python scripts/gpu_check.py --train-memory-only": "needs a CUDA GPU; tests/test_gpu_check.py runs the step on a "
                                                       "tiny LLaDA on the CPU and checks its exit without a GPU",
    "python -m mdlm_eval.training.bench --steps 2,8,32": "about 10 minutes of CPU; tests/training/test_checkpointing.py "
                                                         "tests its counter",
    "mdlm-eval toy train --out /tmp/toy": "retrains the toy (about 26 minutes); tests/models/test_toy_train.py",
    "mdlm-eval train cj-grpo --config toy --task mdlm_toy_countdown --steps 400 --seed 1 --out runs/toy-cj-grpo":
        "400 RL steps (about 20 minutes); tests/training/test_grpo.py",
    "mdlm-eval train diffu-grpo --config toy --task mdlm_toy_countdown --steps 400 --seed 3 --out runs/toy-diffu-grpo":
        "400 RL steps (about 8 minutes); tests/training/test_grpo.py",
    "mdlm-eval train cj-grpo --config toy --steps 400 --out runs/toy-cj-grpo --resume":
        "continues the run above; tests/training/test_grpo.py resumes a short one",
    "mdlm-eval train cj-grpo --config toy --task mdlm_toy_countdown --steps 400 --seed 1 --out study/cj-countdown-1":
        "one run of the RL study (about 20 minutes); tests/training/test_grpo.py",
    "mdlm-eval run --peft study/cj-countdown-1/adapter --decoder eoser_ass --steps log --tasks "
    "mdlm_toy_countdown,mdlm_toy_countdown_sampled --batch-size 64 --output-path study/evals":
        "needs the study's adapter; tests/test_repeats.py runs a repeats task, tests/scoring/test_tasks_yaml.py "
        "loads the sampled twins",
    "mdlm-eval run --peft study/cj-countdown-1/adapter --decoder semi_ar --steps half --tasks "
    "mdlm_toy_countdown,mdlm_toy_countdown_sampled --batch-size 64 --output-path study/evals":
        "needs the study's adapter (as above)",
    "mdlm-eval train report study/evals --out results/toy-rl-study":
        "needs the study's evaluations; tests/training/test_study.py reports on written ones",
    "mdlm-eval rescore --format d1 --json FILES_OR_DIRS...": "a placeholder for d1's files (tests/scoring/test_rescore.py)",
    "mdlm-eval rescore --task countdown my_run_0_generations.json": "a placeholder file name",
    "mdlm-eval run --model Dream-org/Dream-v0-Instruct-7B --decoder dream_entropy --steps full --gen-length 256 "
    "--tasks mdlm_gsm8k": NEEDS_DREAM,
    "lm_eval --model mdlm --apply_chat_template --model_args pretrained=Dream-org/Dream-v0-Instruct-7B,"
    "decoder=dream_entropy,steps=full,gen_length=256 --tasks mdlm_gsm8k": NEEDS_DREAM,
    "lm_eval --model mdlm --model_args pretrained=Dream-org/Dream-v0-Base-7B,decoder=dream_entropy,steps=full,"
    "gen_length=256,chat=none,batch_size=8 --tasks gsm8k --num_fewshot 5": NEEDS_DREAM,
    "mdlm-eval run --decoder semi_ar --steps half": "the whole toy test set (512 samples); tests/test_block_default.py "
                                                    "checks its folder, semi_ar_steps-half_L32_bl8, and block 8",
    "python -m mdlm_eval.throughput --gen-lengths 256 --batches 1": "part of `make bench` (minutes on 2 cores); "
                                                                     "tests/test_throughput.py runs it on a tiny model",
    "python scripts/gpu_check.py --random-weights": "needs a CUDA GPU; tests/test_gpu_check.py checks its arithmetic "
                                                    "and its exit without one",
    "mdlm-eval run --model google/diffusiongemma-26B-A4B-it --decoder diffusion_gemma --gen-length 256 --tasks "
    "mdlm_gsm8k": "DiffusionGemma-26B from the hub and a GPU; tests/test_diffusion_gemma_end_to_end.py runs a tiny one",
}
NEEDS_LLADA = "LLaDA-8B-Instruct from the hub, or a GPU"


DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def readme_commands() -> list[str]:
    """Every command line of the fenced shell blocks of the README and docs/ (continuations joined, comments
    dropped)."""
    blocks, block, language = [], None, ""
    for line in "\n".join(doc.read_text() for doc in DOCUMENTS).splitlines():
        if line.startswith("```"):
            if block is None:
                block, language = [], line[3:].strip()
            else:
                if language in ("", "bash", "sh"):
                    blocks.append("\n".join(block))
                block = None
        elif block is not None:
            block.append(line)
    commands = []
    for text in blocks:
        for line in text.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if re.match(r"(mdlm-eval|lm_eval|make|pip|cd|accelerate|torchrun|python) ", line + " "):
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def test_every_readme_command_is_run_here_or_named_with_a_reason():
    commands = readme_commands()
    assert set(RUNNABLE) <= set(commands), set(RUNNABLE) - set(commands)
    unaccounted = [c for c in commands if c not in RUNNABLE and c not in ELSEWHERE and "LLaDA" not in c]
    assert unaccounted == [], f"documented commands neither tested nor explained: {unaccounted} ({NEEDS_LLADA} aside)"


@pytest.mark.parametrize("command", list(RUNNABLE))
def test_readme_command_runs_as_written(command, tmp_path):
    where, shows = RUNNABLE[command]
    args = shlex.split(command)
    args[0] = str(BIN / args[0])
    proc = subprocess.run(args, cwd=tmp_path if where == "tmp" else REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shows in proc.stdout, proc.stdout[-2000:]
