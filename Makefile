PY := .venv/bin/python
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# Offline task data beside the checkout (as CI has it); elsewhere the data is downloaded and cached.
ifneq ($(wildcard ../shared/data/tasks),)
export MDLM_EVAL_DATA_DIR ?= $(abspath ../shared/data/tasks)
endif

.PHONY: install test run bench gpu-check leaderboard leaderboard-png clean

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	# CPU machines: take the CPU build of torch so the generic requirement does not pull a CUDA build.
	if ! command -v nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install -q torch==2.13.0 || $(PY) -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu; fi
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: .venv/.installed

test: install
	$(PY) -m pytest -q

run: install
	.venv/bin/mdlm-eval run

# glibc would map and unmap the model's ~160 MB logits at every step (page faults in every forward pass);
# keeping freed memory in the heap, as GPU caching allocators do, times the loops rather than the allocator.
bench: install
	MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 MALLOC_TOP_PAD_=1000000000 $(PY) -m mdlm_eval.bench
	$(PY) -m mdlm_eval.startup_bench --stages

# On a CUDA machine: native LLaDA-8B-Instruct vs its own code (bfloat16 logits) and the throughput table with real
# weights (scripts/gpu_check.py; MODEL=folder for a local copy). Not part of `make test`.
MODEL ?= GSAI-ML/LLaDA-8B-Instruct
gpu-check: install
	$(PY) scripts/gpu_check.py --model $(MODEL)

leaderboard: install
	.venv/bin/mdlm-eval leaderboard results/ --out results/

# The page's first screen as a laptop shows it (1366x768), rendered by headless Chromium (Debian: apt-get install chromium).
leaderboard-png: install
	.venv/bin/mdlm-eval leaderboard results/ --out results/ --png build/leaderboard.png

clean:
	rm -rf .venv build *.egg-info
