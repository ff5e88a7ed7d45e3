"""Time and activation memory of one training step against the number of decoding steps S (issue 14, 4c).

`python -m mdlm_eval.training.bench [--steps 2,4,8,16,32] [--batch 24]` prints a TSV: for each S, the seconds
and the peak bytes of tensors autograd keeps for backward (counted with saved-tensor hooks, so the number is
exact on a CPU too; on a GPU, torch.cuda.max_memory_allocated is added) of
- cj-grpo: this package's loss, each step's term back-propagated at once;
- cj-grpo-stored: the same loss with all S forwards kept for one backward (the reference trainer's way);
- diffu-grpo: the one-step estimate (independent of S).
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

    @contextmanager
    def watch(self):
        with torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack):
            yield self


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


def measure(steps_list, batch: int, threads: int = 1) -> list[dict]:
    from mdlm_eval.training.cj_grpo import cj_grpo_loss
    from mdlm_eval.training.config import load_config
    from mdlm_eval.training.diffu_grpo import diffu_grpo_loss
    from mdlm_eval.training.trainer import GRPOTrainer

    torch.set_num_threads(threads)
    rows = []
    for S in steps_list:
        cfg = load_config("toy", task="mdlm_toy_countdown", batch_size=batch, decoder="full_diffusion",
                          decode_steps=S, num_iterations=2, threads=threads)
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
            with counter.watch():
                fn()
            row = {"S": S, "loss": name, "seconds": time.perf_counter() - start, "saved_peak_mb": counter.peak / 2**20}
            if torch.cuda.is_available():
                row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="2,4,8,16,32")
    parser.add_argument("--batch", type=int, default=24)
    args = parser.parse_args()
    rows = measure([int(s) for s in args.steps.split(",")], args.batch)
    keys = list(rows[0])
    print("\t".join(keys))
    for row in rows:
        print("\t".join(f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys))


if __name__ == "__main__":
    main()
