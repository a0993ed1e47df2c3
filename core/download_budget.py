"""The download budget: how many bytes a model download still needs, and whether that fits the
budget setting and the free disk of the Hugging Face cache (checked before anything downloads)."""

from __future__ import annotations

import shutil
from pathlib import Path

from core import settings as setting_names
from core.errors import DownloadTooLargeError
from core.settings import Settings


def missing_bytes(info, names: list[str], settings: Settings) -> int:
    """Bytes of `names` not yet in the download cache (sizes the Hub does not give count as 0)."""
    from huggingface_hub.file_download import repo_folder_name

    blobs = settings.hf_hub_cache / repo_folder_name(repo_id=info.id, repo_type="model") / "blobs"
    total = 0
    for sibling in info.siblings or []:
        blob = sibling.lfs.sha256 if sibling.lfs else sibling.blob_id
        if sibling.rfilename in names and not (blob and (blobs / blob).is_file()):
            total += sibling.size or 0
    return total


def check_download_fits(source: str, size_bytes: int, settings: Settings) -> None:
    """Refuse a download over the budget or over the free disk of the cache, before it starts."""
    budget_bytes = settings.max_download_mb * 1e6
    if size_bytes > budget_bytes:
        raise DownloadTooLargeError(
            f"{source} needs {format_size(size_bytes)} to download; the download budget is {format_size(budget_bytes)}.",
            hint=f"Pick a smaller model, or let an administrator raise the setting {setting_names.MAX_DOWNLOAD_MB}.",
        )
    cache = settings.hf_hub_cache
    free_bytes = free_disk_bytes(cache)
    if size_bytes * settings.download_disk_margin > free_bytes:  # the store and its runs may share that disk
        raise DownloadTooLargeError(
            f"{source} needs {format_size(size_bytes)} to download, but the disk of the Hugging Face cache ({cache}) "
            f"has only {format_size(free_bytes)} free, less than {settings.download_disk_margin:g} times that "
            f"(setting {setting_names.DOWNLOAD_DISK_MARGIN}).",
            hint="Free space there (e.g. old models in the cache), or move the cache to a bigger disk with HF_HOME or HF_HUB_CACHE.",
        )


def free_disk_bytes(folder: Path) -> int:
    """Free bytes on the disk that holds `folder` (or, before it exists, its nearest existing parent)."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path.cwd())
    return shutil.disk_usage(existing).free


def format_size(size_bytes: float) -> str:
    """Sizes as the Hub shows them (powers of 1000): kB below a megabyte, MB above."""
    return f"{size_bytes / 1e3:,.1f} kB" if size_bytes < 1e6 else f"{size_bytes / 1e6:,.1f} MB"
