"""Candidates already on this machine: the Hugging Face cache and the administrator's model folders."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from core.demo_models import starter_folders
from core.hub.models import ModelCandidate, as_tuple, card_license, kinds_for, labels_from_config, task_for_config
from core.hub.readiness import with_checks
from core.settings import Settings, get_settings

_FRONT_MATTER = re.compile(r"^\s*---\r?\n.*?\r?\n---[ \t]*(\r?\n|$)", re.DOTALL)


def list_local(*, settings: Settings | None = None) -> list[ModelCandidate]:
    """Models in the Hugging Face cache and in the administrator's model folders (MSD_MODEL_DIRS)."""
    settings = settings or get_settings()
    candidates = cache_candidates(settings) + folder_candidates(settings)
    return [with_checks(c, settings) for c in candidates]


def cached_repos(settings: Settings) -> list:
    """The repos in this machine's Hugging Face cache (huggingface_hub's CachedRepoInfo), by id."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir(settings.hf_hub_cache)
    except (CacheNotFound, OSError):
        return []
    return sorted(cache.repos, key=lambda r: r.repo_id)


def cache_candidates(settings: Settings) -> list[ModelCandidate]:
    candidates = []
    for repo in cached_repos(settings):
        revision = cached_revision(repo)
        if repo.repo_type == "model" and revision and (revision.snapshot_path / "config.json").is_file():
            candidates.append(candidate_from_folder(revision.snapshot_path, model_id=repo.repo_id, origin="cache",
                                                    sha=revision.commit_hash))
    return candidates


def cached_revision(repo, wanted: str | None = None):
    """The cached revision of a repo (huggingface_hub's CachedRepoInfo) a load would use: the
    branch, tag or commit asked for, else main, else the newest; None if it is not cached."""
    if wanted:
        by_commit = [r for r in repo.revisions if r.commit_hash.startswith(wanted)]
        return repo.refs.get(wanted) or (by_commit[0] if by_commit else None)
    return repo.refs.get("main") or max(repo.revisions, key=lambda r: r.last_modified, default=None)


def cached_snapshot(repo_id: str, revision: str | None, settings: Settings) -> Path | None:
    """The folder of a model repo's revision in this machine's Hugging Face cache, if there is one."""
    repo = next((r for r in cached_repos(settings) if r.repo_id == repo_id and r.repo_type == "model"), None)
    found = cached_revision(repo, revision) if repo else None
    return Path(found.snapshot_path) if found else None


def folder_candidates(settings: Settings) -> list[ModelCandidate]:
    """The administrator's model folders, then the models every server has (an id listed twice is kept once)."""
    folders: list[Path] = []
    for root in settings.model_dirs:
        if (root / "config.json").is_file():
            folders.append(root)
        elif root.is_dir():
            folders.extend(sorted(p.parent for p in root.glob("*/config.json")))
    first_of_each_id = {}
    for model_id, folder in [(f.name, f) for f in folders] + starter_folders(settings):
        first_of_each_id.setdefault(model_id, folder)
    return [candidate_from_folder(f, model_id=i, origin="folder") for i, f in first_of_each_id.items()]


def starter_candidates(*, settings: Settings | None = None) -> list[ModelCandidate]:
    """The models every server has, Hub or not: the packaged MiniLM encoder, and the demo classifier once built."""
    settings = settings or get_settings()
    folders = starter_folders(settings)
    return [with_checks(candidate_from_folder(f, model_id=i, origin="folder"), settings) for i, f in folders]


def candidate_from_folder(folder: Path, *, model_id: str, origin: str, sha: str | None = None) -> ModelCandidate:
    """A ModelCandidate from a model folder's config.json, weights and card."""
    folder = Path(folder)
    config = read_json(folder / "config.json") or {}
    names = [p.name for p in folder.iterdir() if p.is_file()]
    card_raw = read_text(folder / "README.md")
    card = read_card_data(card_raw)
    task = task_for_config(config, is_sentence_transformers="modules.json" in names)
    return ModelCandidate(
        id=model_id,
        origin=origin,
        author=model_id.split("/")[0] if "/" in model_id else None,
        task=task,
        parameters=folder_parameters(folder),
        license=card_license(card, ()),
        languages=as_tuple(card.get("language")),
        base_models=as_tuple(card.get("base_model")),
        library="sentence-transformers" if "modules.json" in names else "transformers",
        gated=False,
        has_safetensors=any(n.endswith(".safetensors") for n in names),
        needs_custom_code="auto_map" in config,
        has_card=card_raw is not None,
        card_chars=len(strip_front_matter(card_raw)) if card_raw is not None else None,
        kinds=tuple(kinds_for(task, config)),
        labels=labels_from_config(config),
        sha=sha,
        local_path=str(folder.resolve()),
    )


def read_card_data(card_text: str | None) -> dict:
    match = _FRONT_MATTER.match(card_text or "")
    if not match:
        return {}
    import yaml  # a dependency of huggingface_hub

    try:
        data = yaml.safe_load(match.group(0).strip().strip("-"))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def folder_parameters(folder: Path) -> int | None:
    """Parameters counted from the safetensors headers alone (no weights are read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    try:
        return sum(safetensors_parameters(f) for f in files)
    except (OSError, ValueError, KeyError, struct.error):
        return None


def safetensors_parameters(path: Path) -> int:
    with path.open("rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_len))
    total = 0
    for name, tensor in header.items():
        if name != "__metadata__":
            count = 1
            for dim in tensor["shape"]:
                count *= dim
            total += count
    return total


# --------------------------------------------------------------------------- reading files


def strip_front_matter(text: str | None) -> str:
    """The card as plain text without its YAML header (pages escape it when rendering)."""
    return _FRONT_MATTER.sub("", text or "", count=1).strip()


def read_text(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def read_json(path: Path | None) -> dict | None:
    text = read_text(path)
    try:
        data = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
