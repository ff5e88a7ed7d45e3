"""What a model or adapter *is*, for the sample store's key: a change of weights under the same name is a new key.

- A hub id: the commit its files were read from, taken offline from the Hugging Face cache (the cached
  snapshot's folder is named by the commit), so a new revision pushed to `main` is a new fingerprint.
- A local folder (the toy, a checkpoint, an adapter): for each weight file, its name, size, modification time
  (ns) and a SHA-256 of its first and last MiB; the small files (config.json, adapter_config.json) are hashed
  whole. Reading 2 MiB per file keeps this well under a second for a 16 GB sharded checkpoint. Saving a
  checkpoint rewrites its files, which changes their modification time (and in practice size or head/tail
  bytes), so a retrained `/ckpt/latest` never reuses the old answers; an untouched folder keeps its fingerprint.
  Copying a folder without keeping times (`cp` without `-p`) only costs a recomputation, never a wrong reuse.

`content_fingerprint` is the same without the modification times, reading weight files up to 64 MiB whole (a
LoRA adapter, the toy) and larger ones by their edges: what a run's identity (its folder name, its manifest's
`weights`) is made of, so that a fresh clone or a copy of the same files is the same model.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
WHOLE_FILES = ("config.json", "adapter_config.json", "generation_config.json", "model.safetensors.index.json",
               "pytorch_model.bin.index.json")
EDGE = 1 << 20  # bytes read from each end of a weight file
WHOLE_CONTENT = 64 << 20  # content fingerprints read weight files up to this size whole


def weights_fingerprint(name: str, times: bool = True) -> str:
    """`commit:<sha>` for a cached hub id, `files:<sha256>` for a local folder, `name:<name>` when neither
    can be read (a hub id not in the cache: loading it fails or downloads, and the next run has its commit)."""
    from mdlm_eval.model_files import resolve_adapter, resolve_pretrained

    source, local = resolve_pretrained(resolve_adapter(name))
    if local:
        return f"files:{folder_fingerprint(Path(source), times)}" if Path(source).is_dir() else f"name:{name}"
    commit = hub_commit(source)
    return f"commit:{commit}" if commit else f"name:{name}"


def hub_commit(repo_id: str, revision: str = "main") -> str | None:
    """The commit of the cached snapshot of `repo_id` at `revision`, read from the local cache only."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("config.json", "adapter_config.json"):
        path = try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(path, str):
            return Path(path).parent.name  # .../models--org--name/snapshots/<commit>/config.json
    return None


def content_fingerprint(name: str) -> str:
    """The weights' fingerprint without file times: the same files anywhere are the same model."""
    return weights_fingerprint(name, times=False)


def short_fingerprint(fingerprint: str) -> str:
    """8 hex digits of a fingerprint, for names (`files:3fa8...` -> `3fa8c0d1`); a bare name has none ("")."""
    kind, _, value = fingerprint.partition(":")
    return value[:8] if kind in ("files", "commit") else ""


def folder_fingerprint(folder: Path, times: bool = True) -> str:
    digest = hashlib.sha256()
    # the files from_pretrained reads: those at the top of the folder (not checkpoint-*/ or optimizer states below)
    files = sorted(p for p in folder.iterdir() if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name in WHOLE_FILES))
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns if times else ''}\0".encode())
        with open(path, "rb") as f:
            if path.name in WHOLE_FILES or stat.st_size <= (2 * EDGE if times else WHOLE_CONTENT):
                digest.update(f.read())
            else:
                digest.update(f.read(EDGE))
                f.seek(-EDGE, 2)
                digest.update(f.read(EDGE))
    return digest.hexdigest()
