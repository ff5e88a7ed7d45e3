"""What a model or adapter *is*, for the sample store's key: a change of weights under the same name is a new key.

- A hub id: the commit its files were read from, taken offline from the Hugging Face cache (the cached
  snapshot's folder is named by the commit), so a new revision pushed to `main` is a new fingerprint.
- A local folder (the toy, a checkpoint, an adapter): for each weight file, its name, size, modification time
  (ns) and a SHA-256 of its first and last MiB; the small files (config.json, adapter_config.json) are hashed
  whole. Reading 2 MiB per file keeps this well under a second for a 16 GB sharded checkpoint. Saving a
  checkpoint rewrites its files, which changes their modification time (and in practice size or head/tail
  bytes), so a retrained `/ckpt/latest` never reuses the old answers; an untouched folder keeps its fingerprint.
  Copying a folder without keeping times (`cp` without `-p`) only costs a recomputation, never a wrong reuse.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
WHOLE_FILES = ("config.json", "adapter_config.json", "generation_config.json", "model.safetensors.index.json",
               "pytorch_model.bin.index.json")
EDGE = 1 << 20  # bytes read from each end of a weight file


def weights_fingerprint(name: str) -> str:
    """`commit:<sha>` for a cached hub id, `files:<sha256>` for a local folder, `name:<name>` when neither
    can be read (a hub id not in the cache: loading it fails or downloads, and the next run has its commit)."""
    from mdlm_eval.models.loading import resolve_adapter, resolve_pretrained

    source, local = resolve_pretrained(resolve_adapter(name))
    if local:
        return f"files:{folder_fingerprint(Path(source))}"
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


def folder_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    # the files from_pretrained reads: those at the top of the folder (not checkpoint-*/ or optimizer states below)
    files = sorted(p for p in folder.iterdir() if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name in WHOLE_FILES))
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        with open(path, "rb") as f:
            if path.name in WHOLE_FILES or stat.st_size <= 2 * EDGE:
                digest.update(f.read())
            else:
                digest.update(f.read(EDGE))
                f.seek(-EDGE, 2)
                digest.update(f.read(EDGE))
    return digest.hexdigest()
