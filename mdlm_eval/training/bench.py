"""Time and activation memory of one training step against the number of decoding steps S.

`python -m mdlm_eval.training.bench [--steps 2,8,32] [--batch 24] [--checkpointing 0,1]` prints a TSV: for each S
and with activation checkpointing off / on, the seconds and the peak bytes of activations kept for backward of
- cj-grpo: this package's loss, each step's term back-propagated at once;
- cj-grpo-stored: the same loss with all S forwards kept for one backward (the reference trainer's way);
- diffu-grpo: the one-step estimate (independent of S);
then the smallest S at which the per-step backward keeps less than the stored one, with checkpointing.
Activations are counted exactly on a CPU too: the tensors autograd saves (saved-tensor hooks), plus, with
checkpointing, each block's input, which the checkpoint keeps until backward recomputes the block (the transient
of recomputing one block, the same for every S, is not counted). On a GPU, torch.cuda.max_memory_allocated is added.
Rollouts are the toy's, decoded with `full_diffusion` at S steps (the loss does not depend on the decoder).
"""
from __future__ import annotations

import argparse
import tempfile
import time
import weakref
from contextlib import contextmanager

import torch


class SavedBytes:
    """Live and peak bytes of the tensors autograd saves for backward."""

    def __init__(self):
        self.live = self.peak = 0

    def pack(self, t: torch.Tensor):
        box = _Box(t)
        n = t.numel() * t.element_size()
        self.live += n
        self.peak = max(self.peak, self.live)
        weakref.finalize(box, self._free, n)
        return box

    def _free(self, n: int) -> None:
        self.live -= n

    @staticmethod
    def unpack(box: "_Box") -> torch.Tensor:
        return box.t

    def keep(self, module, args) -> None:
        """A checkpointed block's input, alive until backward recomputes the block."""
        if torch.is_grad_enabled() and module.training and getattr(module, "gradient_checkpointing", False):
            x = args[0]
            n = x.numel() * x.element_size()
            self.live += n
            self.peak = max(self.peak, self.live)
            weakref.finalize(x, self._free, n)

    @contextmanager
    def watch(self, model: torch.nn.Module | None = None):
        from transformers.modeling_layers import GradientCheckpointingLayer

        blocks = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)] if model is not None else []
        handles = [b.register_forward_pre_hook(self.keep) for b in blocks]
        try:
            with torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack):
                yield self
        finally:
            for h in handles:
                h.remove()


class _Box:
    __slots__ = ("t", "__weakref__")

    def __init__(self, t):
        self.t = t


def stored_cj_grpo_loss(model, r, mask_id, epsilon, beta):
    """CJ-GRPO as the reference computes it: all S per-step log-probs first, then one loss and one backward."""
    from mdlm_eval.training.cj_grpo import step_logps
    from mdlm_eval.training.objectives import grpo_token_loss

    logps = [step_logps(model, r, s, mask_id) for s in range(r.num_steps)]
    loss = 0.0
    for s, logp in enumerate(logps):
        committed = (r.commit_step == s).float()
        if committed.sum() == 0:
            continue
        token_loss, _, _ = grpo_token_loss(logp, r.old_logps, r.ref_logps, r.advantages, epsilon, beta)
        loss = loss + (token_loss * committed).sum() / committed.sum() / r.num_steps
    loss.backward()


def measure(steps_list, batch: int, threads: int = 1, checkpointing=(False, True)) -> list[dict]:
    from mdlm_eval.training.cj_grpo import cj_grpo_loss
    from mdlm_eval.training.config import load_config
    from mdlm_eval.training.diffu_grpo import diffu_grpo_loss
    from mdlm_eval.training.trainer import GRPOTrainer

    torch.set_num_threads(threads)
    rows = []
    for S, ckpt in [(S, c) for S in steps_list for c in checkpointing]:
        cfg = load_config("toy", task="mdlm_toy_countdown", batch_size=batch, decoder="full_diffusion",
                          decode_steps=S, num_iterations=2, threads=threads, gradient_checkpointing=ckpt)
        tr = GRPOTrainer(cfg, tempfile.mkdtemp() + "/out")
        r = tr.make_rollout(0)
        tr.cfg.method = "diffu-grpo"
        r_diffu = tr.make_rollout(0)
        mask = tr.lm.ids.mask_id
        runs = {
            "cj-grpo": lambda: cj_grpo_loss(tr.policy, r, mask, epsilon=cfg.epsilon, beta=cfg.beta),
            "cj-grpo-stored": lambda: stored_cj_grpo_loss(tr.policy, r, mask, cfg.epsilon, cfg.beta),
            "diffu-grpo": lambda: diffu_grpo_loss(tr.policy, r_diffu, mask, tr.lm.ids.eos_id, 0, epsilon=cfg.epsilon,
                                                  beta=cfg.beta),
        }
        tr.policy.train()
        for name, fn in runs.items():
            tr.opt.zero_grad(set_to_none=True)
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            counter = SavedBytes()
            start = time.perf_counter()
            with counter.watch(tr.peft_model):
                fn()
            row = {"S": S, "loss": name, "checkpointing": int(ckpt), "seconds": time.perf_counter() - start,
                   "saved_peak_mb": counter.peak / 2**20}
            if torch.cuda.is_available():
                row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="2,8,32")
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--checkpointing", default="0,1", help="0 (off), 1 (on) or both")
    args = parser.parse_args()
    rows = measure([int(s) for s in args.steps.split(",")], args.batch,
                   checkpointing=[bool(int(c)) for c in args.checkpointing.split(",")])
    keys = list(rows[0])
    print("\t".join(keys))
    for row in rows:
        print("\t".join(f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys))
    print(break_even(rows))


def break_even(rows: list[dict]) -> str:
    """The smallest measured S at which the per-step backward keeps less than one backward over all steps:
    both with checkpointing, and (where measured) the per-step backward without it against the stored one with it."""
    peak = {(r["S"], r["loss"], r["checkpointing"]): r["saved_peak_mb"] for r in rows}
    steps = sorted({r["S"] for r in rows})
    lines = []
    for mine, theirs, what in ((1, 1, "both with checkpointing"),
                               (0, 1, "per-step without checkpointing, one backward with it")):
        measured = [S for S in steps if (S, "cj-grpo", mine) in peak and (S, "cj-grpo-stored", theirs) in peak]
        if not measured:
            continue
        wins = [S for S in measured if peak[S, "cj-grpo", mine] < peak[S, "cj-grpo-stored", theirs]]
        lines.append(f"# {what}: the per-step backward keeps less from S = {wins[0]} on" if wins
                     else f"# {what}: the per-step backward never keeps less")
        lines[-1] += f" (measured S: {', '.join(map(str, measured))})"
    return "\n".join(lines)

if __name__ == "__main__":
    main()
