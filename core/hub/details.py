"""One candidate looked at closely: its files, sizes, labels and card, from the Hub or a folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.errors import HubError
from core.hub.http import call_hub, hub_api
from core.hub.local import candidate_from_folder, read_json, read_text, strip_front_matter
from core.hub.models import ModelCandidate, ModelDetails, ModelFile, kinds_for, labels_from_config
from core.hub.readiness import with_checks
from core.hub.searching import candidate_from_info
from core.model_files import files_to_load
from core.settings import Settings, get_settings


def model_details(candidate: ModelCandidate | str, *, settings: Settings | None = None) -> ModelDetails:
    """Files and sizes (known before any download), label names and the card of one candidate.

    `candidate` is a ModelCandidate, a Hub repo id or a local folder path.
    Raises HubError subclasses (not found, gated, unreachable, rate limited) for Hub models.
    """
    settings = settings or get_settings()
    if isinstance(candidate, str):
        path = Path(candidate).expanduser()
        is_folder = path.is_dir() and (path / "config.json").is_file()
        candidate = candidate_from_folder(path, model_id=path.name, origin="folder") if is_folder else ModelCandidate(candidate)
    if candidate.is_local and candidate.local_path:
        return folder_details(candidate, settings=settings)
    return hub_details(candidate, settings=settings)


def folder_details(candidate: ModelCandidate, *, settings: Settings) -> ModelDetails:
    folder = Path(candidate.local_path or "")
    files = tuple(
        ModelFile(p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in sorted(folder.rglob("*")) if p.is_file() and ".cache" not in p.relative_to(folder).parts
    )
    config = read_json(folder / "config.json")
    card_text = strip_front_matter(read_text(folder / "README.md"))
    return ModelDetails(with_checks(candidate, settings), files, sum(f.size_bytes or 0 for f in files),
                        0, config, card_text, ("already on this machine: nothing to download",))


def hub_details(candidate: ModelCandidate, *, settings: Settings) -> ModelDetails:
    api = hub_api(settings)
    what = candidate.id
    info = call_hub(lambda: api.model_info(candidate.id, files_metadata=True), settings=settings, what=what)
    fresh = candidate_from_info(info)
    files = tuple(ModelFile(s.rfilename, s.size) for s in info.siblings or ())
    notes: list[str] = []
    config = fetch_json_or_note(api, info, "config.json", settings=settings, notes=notes)
    card_text = fetch_text_or_note(api, info, "README.md", settings=settings, notes=notes)
    merged = merge_details(candidate, fresh, config=config, card_text=card_text)
    return ModelDetails(with_checks(merged, settings), files, total_size(files), download_size(files, settings, config),
                        config, card_text or "", tuple(notes))


def merge_details(old: ModelCandidate, fresh: ModelCandidate, *, config: dict | None, card_text: str | None) -> ModelCandidate:
    """The fresh model_info values, keeping what only the search knew (trending, all-time downloads)."""
    kinds = tuple(kinds_for(fresh.task, config)) if config else fresh.kinds
    return replace(
        fresh,
        trending=fresh.trending if fresh.trending is not None else old.trending,
        downloads_all_time=fresh.downloads_all_time if fresh.downloads_all_time is not None else old.downloads_all_time,
        needs_custom_code=fresh.needs_custom_code or bool(config and "auto_map" in config),
        kinds=kinds,
        labels=labels_from_config(config) if config else fresh.labels,
        card_chars=len(card_text) if card_text is not None else None,
        has_card=fresh.has_card or bool(card_text),
    )


def fetch_file_or_note(api, info, filename: str, *, settings: Settings, notes: list[str]) -> Path | None:
    """Download one small file of the repo at the listed sha; a note instead of an error when refused."""
    if filename not in {s.rfilename for s in info.siblings or ()}:
        notes.append(f"the repo has no {filename}")
        return None
    download = lambda: api.hf_hub_download(info.id, filename, revision=info.sha, cache_dir=settings.hf_hub_cache)  # noqa: E731
    try:
        return Path(call_hub(download, settings=settings, what=f"{info.id}/{filename}"))
    except HubError as error:
        notes.append(f"{filename} could not be read: {error.sentence}")
        return None


def fetch_json_or_note(api, info, filename: str, *, settings: Settings, notes: list[str]) -> dict | None:
    path = fetch_file_or_note(api, info, filename, settings=settings, notes=notes)
    return read_json(path) if path else None


def fetch_text_or_note(api, info, filename: str, *, settings: Settings, notes: list[str]) -> str | None:
    path = fetch_file_or_note(api, info, filename, settings=settings, notes=notes)
    return strip_front_matter(read_text(path)) if path else None


def total_size(files: tuple[ModelFile, ...]) -> int | None:
    sizes = [f.size_bytes for f in files]
    return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]


def download_size(files: tuple[ModelFile, ...], settings: Settings, config: dict | None = None) -> int | None:
    """Bytes that loading would download: the files core.model_files chooses for this model."""
    chosen = set(files_to_load([f.path for f in files], config, None, allow_pickle=settings.allow_pickle))
    return total_size(tuple(f for f in files if f.path in chosen))
