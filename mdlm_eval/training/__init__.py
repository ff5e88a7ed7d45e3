"""Training masked diffusion LMs: the shared objectives, the toy's SFT recipe, and the two GRPO trainers
(CJ-GRPO, arXiv 2509.23924; diffu-GRPO, d1) with LoRA adapters through peft."""
