"""Finding candidates: Hub search by task with trust signals, the local cache and model folders.

`search(task, ...)` asks the Hub (`HfApi.list_models`, always bounded by `limit`, with the
metadata expanded in the same call) and adds the models already on this machine. When the
Hub cannot be reached it says so in one sentence and lists the local models alone.
`model_details(...)` fetches one candidate's files, sizes, labels and card on demand, and
`check_readiness(...)` turns the metadata into a checklist of flags, each with its reason.

Time is bounded here, not in huggingface_hub: the library retries 429, 5xx and network
errors itself, sleeping up to 8 s at a time with no overall timeout. Inside our calls (and
only there, marked by a context variable) two httpx hooks make it fail fast instead, every
request gets the time that is left, and the call runs in a daemon thread that is abandoned
when the timeout passes. 429 answers are retried here, within `hub_retry_budget_s`.

The endpoint is read from the settings at call time and passed explicitly. The token is
left to huggingface_hub, which reads `HF_TOKEN` itself when it sends a request: this module
never reads, stores or returns it.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from core import settings as setting_names
from core.errors import (
    AppError,
    HubError,
    HubUnreachableError,
    InputError,
    RateLimitedError,
    RepoNotFoundError,
    explain_hub_error,
)
from core.kinds import choose_kinds
from core.model_files import files_to_load
from core.settings import Settings, get_settings

T = TypeVar("T")

#: Hub pipeline tags we search by.
TASKS = ("text-classification", "zero-shot-classification", "feature-extraction", "sentence-similarity")
#: Our sort names -> huggingface_hub's `sort=` values (always descending on the Hub).
SORTS = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trending_score",
    "updated": "last_modified",
    "created": "created_at",
}
#: Metadata asked for in the same `list_models` call.
EXPAND = [
    "author", "downloads", "downloadsAllTime", "likes", "trendingScore", "lastModified", "createdAt",
    "pipeline_tag", "library_name", "tags", "gated", "safetensors", "cardData", "sha",
]
CHECK_NAMES = ("popular", "documented", "maintained", "safe_to_load", "licensed", "accessible")
MAX_LIMIT = 1000
_FRONT_MATTER = re.compile(r"^\s*---\r?\n.*?\r?\n---[ \t]*(\r?\n|$)", re.DOTALL)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Check:
    """One item of the readiness checklist."""

    name: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class ModelCandidate:
    """A model worth trying, with the trust signals known about it. Unknown is None, never 0."""

    id: str
    origin: str = "hub"
    author: str | None = None
    task: str | None = None
    downloads: int | None = None
    downloads_all_time: int | None = None
    likes: int | None = None
    trending: int | None = None
    last_modified: datetime | None = None
    created: datetime | None = None
    parameters: int | None = None
    license: str | None = None
    languages: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()
    library: str | None = None
    tags: tuple[str, ...] = ()
    gated: bool = False
    has_safetensors: bool | None = None
    needs_custom_code: bool = False
    has_card: bool = False
    card_chars: int | None = None
    kinds: tuple[str, ...] = ()
    labels: tuple[str, ...] | None = None
    sha: str | None = None
    local_path: str | None = None
    checks: tuple[Check, ...] = ()

    @property
    def is_local(self) -> bool:
        return self.origin != "hub"

    @property
    def source(self) -> str:
        """What to hand to the loader (`ModelSpec.source`): a folder path or a repo id."""
        return self.local_path if self.origin == "folder" and self.local_path else self.id

    @property
    def ready_count(self) -> int:
        """How many checks pass: a sort key."""
        return sum(check.ok for check in self.checks)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(check.name for check in self.checks if not check.ok)

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; checks are: {', '.join(CHECK_NAMES)}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings, checks by name)."""
        data = asdict(self)
        for key in ("last_modified", "created"):
            data[key] = data[key].isoformat() if data[key] else None
        data["checks"] = {c.name: {"ok": c.ok, "reason": c.reason} for c in self.checks}
        data["ready_count"] = self.ready_count
        return data


@dataclass(frozen=True)
class SearchQuery:
    """A validated search. Hashable, so identical searches share a cache entry."""

    task: str
    search: str | None = None
    author: str | None = None
    library: str | None = "transformers"
    language: str | None = None
    license: str | None = None
    tags: tuple[str, ...] = ()
    min_parameters: int | None = None
    max_parameters: int | None = None
    include_gated: bool = True
    sort: str = "downloads"
    limit: int = 20
    include_local: bool = True

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("sort", self.sort, tuple(SORTS))
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InputError(f"limit {self.limit} is out of range.", hint=f"Give a number from 1 to {MAX_LIMIT}.")
        low, high = self.min_parameters, self.max_parameters
        if (low is not None and low < 0) or (high is not None and high < 0) or (low and high and low > high):
            raise InputError(f"parameter range {low}..{high} is empty or negative.", hint="Give 0 <= min <= max.")
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def filter_tags(self) -> list[str]:
        tags = [self.library, self.language, f"license:{self.license}" if self.license else None, *self.tags]
        return [t for t in tags if t]

    @property
    def num_parameters(self) -> str | None:
        bounds = [f"min:{format_count(self.min_parameters)}" if self.min_parameters is not None else None,
                  f"max:{format_count(self.max_parameters)}" if self.max_parameters is not None else None]
        return ",".join(b for b in bounds if b) or None


@dataclass(frozen=True)
class SearchResult:
    """Candidates plus what the user should know about where they came from."""

    query: SearchQuery
    candidates: tuple[ModelCandidate, ...]
    hub_reached: bool
    notice: str = ""
    from_cache: bool = False
    elapsed_s: float = 0.0
    #: Set when the Hub could not answer and these are the last good results of the same search.
    stale_age_s: float | None = None


@dataclass(frozen=True)
class ModelFile:
    path: str
    size_bytes: int | None


@dataclass(frozen=True)
class ModelDetails:
    """One candidate looked at closely: files, sizes, labels and the card (plain text)."""

    candidate: ModelCandidate
    files: tuple[ModelFile, ...]
    total_bytes: int | None
    download_bytes: int | None
    config: dict | None
    card_text: str
    notes: tuple[str, ...] = ()


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}.", hint=f"Choose one of: {', '.join(choices)}.")


def format_count(count: int) -> str:
    """110000000 -> '110M', the Hub's range syntax; plain digits when not round."""
    for suffix, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


# --------------------------------------------------------------------------- kinds and labels


def kinds_for(pipeline_tag: str | None, config: dict | None) -> list[str]:
    """Which of our evaluation kinds a model fits, best first: core.kinds' one rule."""
    return list(choose_kinds(config, pipeline_tag).fits)


def labels_from_config(config: dict | None) -> tuple[str, ...] | None:
    """Label names in id order, or None when the config has none."""
    id2label = (config or {}).get("id2label") or {}
    try:
        return tuple(str(id2label[k]) for k in sorted(id2label, key=int)) or None
    except (TypeError, ValueError):
        return None


def task_for_config(config: dict, *, is_sentence_transformers: bool = False) -> str | None:
    """The pipeline tag a local model would have on the Hub."""
    if is_sentence_transformers:
        return "sentence-similarity"
    kinds = kinds_for(None, config)
    if "zero-shot-classification" in kinds:
        return "zero-shot-classification"
    if "text-classification" in kinds:
        return "text-classification"
    return "feature-extraction" if kinds else None


# --------------------------------------------------------------------------- readiness


def check_readiness(candidate: ModelCandidate, *, settings: Settings, now: datetime | None = None) -> tuple[Check, ...]:
    """The checklist: popular, documented, maintained, safe to load, licensed, accessible."""
    now = now or datetime.now(timezone.utc)
    return (
        check_popular(candidate, settings),
        check_documented(candidate, settings),
        check_maintained(candidate, settings, now),
        check_safe_to_load(candidate, settings),
        check_licensed(candidate),
        check_accessible(candidate, settings),
    )


def check_popular(c: ModelCandidate, settings: Settings) -> Check:
    if c.downloads is None or c.likes is None:
        return Check("popular", False, "download and like counts are unknown (not from the Hub)")
    wanted = f"{settings.popular_min_downloads:,} downloads and {settings.popular_min_likes:,} likes wanted"
    ok = c.downloads >= settings.popular_min_downloads and c.likes >= settings.popular_min_likes
    return Check("popular", ok, f"{c.downloads:,} downloads in 30 days and {c.likes:,} likes ({wanted})")


def check_documented(c: ModelCandidate, settings: Settings) -> Check:
    minimum = settings.documented_min_card_chars
    if c.card_chars is not None:
        return Check("documented", c.card_chars >= minimum, f"model card of {c.card_chars:,} characters ({minimum:,} wanted)")
    if c.has_card:
        return Check("documented", True, "has a model card with metadata (its length is checked in the details)")
    return Check("documented", False, "no model card (or one without metadata)")


def check_maintained(c: ModelCandidate, settings: Settings, now: datetime) -> Check:
    within = settings.maintained_within_days
    if c.last_modified is None:
        return Check("maintained", False, "last update on the Hub is unknown")
    days = max((now - c.last_modified).days, 0)
    return Check("maintained", days <= within, f"updated {days} days ago (within {within} days wanted)")


def check_safe_to_load(c: ModelCandidate, settings: Settings) -> Check:
    if c.needs_custom_code:
        return Check("safe_to_load", False, "needs custom code (trust_remote_code), which is never run here")
    if c.has_safetensors is False and not settings.allow_pickle:
        return Check("safe_to_load", False, f"pickle weights only; safetensors needed unless {setting_names.ALLOW_PICKLE}=1")
    if c.has_safetensors is False:
        return Check("safe_to_load", True, f"pickle weights only, allowed by {setting_names.ALLOW_PICKLE}")
    if c.has_safetensors is None:
        return Check("safe_to_load", False, "weight format unknown")
    return Check("safe_to_load", True, "safetensors weights, no custom code")


def check_licensed(c: ModelCandidate) -> Check:
    if c.license:
        return Check("licensed", True, f"license: {c.license}")
    return Check("licensed", False, "no license declared in the model card")


def check_accessible(c: ModelCandidate, settings: Settings) -> Check:
    if not c.gated:
        return Check("accessible", True, "not gated")
    if settings.has_token:
        return Check("accessible", True, "gated; a token is configured (its account must have accepted the terms)")
    return Check("accessible", False, "gated: accept the terms on the Hub, then set HF_TOKEN")


def with_checks(candidate: ModelCandidate, settings: Settings) -> ModelCandidate:
    return replace(candidate, checks=check_readiness(candidate, settings=settings))


def passing(candidates: Iterable[ModelCandidate], *, required: Iterable[str]) -> list[ModelCandidate]:
    """The candidates that pass every check named in `required` (to hide what fails)."""
    required = tuple(required)
    for name in required:
        check_choice("check", name, CHECK_NAMES)
    return [c for c in candidates if all(c.check(name).ok for name in required)]


def rank(candidates: Iterable[ModelCandidate]) -> list[ModelCandidate]:
    """Most checks passed first; ties keep their order (the search's sort)."""
    return sorted(candidates, key=lambda c: c.ready_count, reverse=True)


# --------------------------------------------------------------------------- search


def search(task: str, *, settings: Settings | None = None, **filters: Any) -> SearchResult:
    """Candidates for `task` from the Hub (bounded by `limit`) and local sources.

    `filters` are the fields of `SearchQuery`: search, author, library, language, license,
    tags, min_parameters, max_parameters, include_gated, sort, limit, include_local.
    Never raises for Hub trouble: the result then holds local candidates and a `notice`.
    """
    query = SearchQuery(task=task, **filters)
    settings = settings or get_settings()
    key = (query, settings, settings.hf_endpoint, settings.has_token, settings.hub_offline)
    cached = _SEARCH_CACHE.get(key, ttl_s=settings.hub_cache_ttl_s)
    if cached is not None:
        return replace(cached, from_cache=True)
    result = search_uncached(query, settings=settings)
    if result.hub_reached:
        _SEARCH_CACHE.put(key, result)
        return result
    return last_good(key, failed=result) or result


def last_good(key: Any, *, failed: SearchResult) -> SearchResult | None:
    """The last results the Hub gave for the same search, however old, said to be stale (rather
    than a rate-limited or offline search showing no candidates at all)."""
    kept = _SEARCH_CACHE.get_any(key)
    if kept is None:
        return None
    age_s, result = kept
    reason = failed.notice.split(";")[0].rstrip(".")
    notice = f"{reason}; showing the results of the same search from {format_age(age_s)} ago, which may be out of date."
    return replace(result, notice=notice, from_cache=True, stale_age_s=age_s)


def format_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def search_uncached(query: SearchQuery, *, settings: Settings) -> SearchResult:
    started = time.perf_counter()
    local = [c for c in list_local(settings=settings) if matches_query(c, query)] if query.include_local else []
    try:
        hub = search_hub(query, settings=settings)
    except HubError as error:
        notice = f"{error.message.rstrip('.')}; {local_summary(len(local), query)}."
        return SearchResult(query, tuple(local), False, notice, elapsed_s=time.perf_counter() - started)
    known = {c.id for c in hub}
    merged = tuple(hub) + tuple(c for c in local if c.id not in known)
    return SearchResult(query, merged, True, elapsed_s=time.perf_counter() - started)


def local_summary(count: int, query: SearchQuery) -> str:
    if not query.include_local:
        return "local models were not asked for"
    if count == 0:
        return "no local model matches either"
    return f"showing {count} local model{'s' if count > 1 else ''} instead"


def search_hub(query: SearchQuery, *, settings: Settings) -> list[ModelCandidate]:
    """Hub candidates only; raises HubError (unreachable, rate limited) when the Hub cannot answer."""
    api = hub_api(settings)
    arguments = dict(
        pipeline_tag=query.task,
        search=query.search or None,
        author=query.author or None,
        filter=query.filter_tags or None,
        num_parameters=query.num_parameters,
        gated=None if query.include_gated else False,
        sort=SORTS[query.sort],
        limit=query.limit,
        expand=EXPAND,
    )
    infos = call_hub(lambda: list(api.list_models(**arguments)), settings=settings, what="the model search")
    return [with_checks(candidate_from_info(info), settings) for info in infos]


def clear_search_cache() -> None:
    _SEARCH_CACHE.clear()


def hub_api(settings: Settings):
    from huggingface_hub import HfApi

    return HfApi(endpoint=settings.hf_endpoint, library_name="model-selection-dashboard")


def candidate_from_info(info) -> ModelCandidate:
    """A ModelCandidate from a huggingface_hub ModelInfo (checks are added by the caller)."""
    card = info.card_data.to_dict() if info.card_data is not None else {}
    tags = tuple(info.tags or ())
    config = info.config or {}
    siblings = [s.rfilename for s in info.siblings] if info.siblings is not None else None
    return ModelCandidate(
        id=info.id,
        origin="hub",
        author=info.author or info.id.split("/")[0],
        task=info.pipeline_tag,
        downloads=info.downloads,
        downloads_all_time=info.downloads_all_time,
        likes=info.likes,
        trending=info.trending_score,
        last_modified=info.last_modified,
        created=info.created_at,
        parameters=info.safetensors.total if info.safetensors else None,
        license=card_license(card, tags),
        languages=as_tuple(card.get("language")) or tuple(t for t in tags if len(t) == 2 and t.isalpha()),
        base_models=as_tuple(card.get("base_model")),
        library=info.library_name,
        tags=tags,
        gated=bool(info.gated),
        has_safetensors=hub_has_safetensors(info, tags, siblings),
        needs_custom_code="custom_code" in tags or "auto_map" in config,
        has_card=bool(card),
        kinds=tuple(kinds_for(info.pipeline_tag, config)),
        labels=labels_from_config(config),
        sha=info.sha,
    )


def hub_has_safetensors(info, tags: tuple[str, ...], siblings: list[str] | None) -> bool:
    if siblings is not None:
        return any(name.endswith(".safetensors") for name in siblings)
    return info.safetensors is not None or "safetensors" in tags


def card_license(card: dict, tags: tuple[str, ...]) -> str | None:
    license_ = card.get("license")
    if isinstance(license_, list):
        license_ = ", ".join(map(str, license_))
    if license_:
        return str(license_)
    return next((t.split(":", 1)[1] for t in tags if t.startswith("license:")), None)


def as_tuple(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def matches_query(c: ModelCandidate, query: SearchQuery) -> bool:
    """The query's filters, applied to a local candidate the way the Hub applies them."""
    wanted_kind = {"text-classification": "text-classification", "zero-shot-classification": "zero-shot-classification"}
    params = c.parameters
    checks = [
        wanted_kind.get(query.task, "embedding-probe") in c.kinds,
        not query.search or query.search.lower() in c.id.lower(),
        not query.author or c.id.startswith(f"{query.author}/"),
        not query.license or (c.license or "").lower() == query.license.lower(),
        not query.language or query.language in c.languages,
        query.min_parameters is None or (params is not None and params >= query.min_parameters),
        query.max_parameters is None or (params is not None and params <= query.max_parameters),
    ]
    return all(checks)


class _TTLCache:
    """A small thread-safe cache of search results (Streamlit sessions share the process)."""

    def __init__(self, max_entries: int = 128) -> None:
        self._entries: OrderedDict[Any, tuple[float, SearchResult]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, key: Any, *, ttl_s: float) -> SearchResult | None:
        """The entry while it is younger than `ttl_s`."""
        kept = self.get_any(key)
        return kept[1] if kept is not None and kept[0] <= ttl_s else None

    def get_any(self, key: Any) -> tuple[float, SearchResult] | None:
        """The entry however old, with its age in seconds (expired entries are kept for a Hub that is down)."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else (time.monotonic() - entry[0], entry[1])

    def put(self, key: Any, value: SearchResult) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_SEARCH_CACHE = _TTLCache()


# --------------------------------------------------------------------------- details


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
    config = fetch_repo_json(api, info, "config.json", settings=settings, notes=notes)
    card_text = fetch_repo_text(api, info, "README.md", settings=settings, notes=notes)
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


def fetch_repo_file(api, info, filename: str, *, settings: Settings, notes: list[str]) -> Path | None:
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


def fetch_repo_json(api, info, filename: str, *, settings: Settings, notes: list[str]) -> dict | None:
    path = fetch_repo_file(api, info, filename, settings=settings, notes=notes)
    return read_json(path) if path else None


def fetch_repo_text(api, info, filename: str, *, settings: Settings, notes: list[str]) -> str | None:
    path = fetch_repo_file(api, info, filename, settings=settings, notes=notes)
    return strip_front_matter(read_text(path)) if path else None


def total_size(files: tuple[ModelFile, ...]) -> int | None:
    sizes = [f.size_bytes for f in files]
    return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]


def download_size(files: tuple[ModelFile, ...], settings: Settings, config: dict | None = None) -> int | None:
    """Bytes that loading would download: the files core.model_files chooses for this model."""
    chosen = set(files_to_load([f.path for f in files], config, None, allow_pickle=settings.allow_pickle))
    return total_size(tuple(f for f in files if f.path in chosen))


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


# --------------------------------------------------------------------------- local sources


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
    folders: list[Path] = []
    for root in settings.model_dirs:
        if (root / "config.json").is_file():
            folders.append(root)
        elif root.is_dir():
            folders.extend(sorted(p.parent for p in root.glob("*/config.json")))
    return [candidate_from_folder(f, model_id=f.name, origin="folder") for f in folders]


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


# --------------------------------------------------------------------------- bounded Hub calls


@dataclass
class _CallState:
    """Per-call state read by the httpx hooks (only inside `call_hub`)."""

    deadline: float
    #: The most one request may wait for an answer (or between two reads of a download).
    request_timeout_s: float = math.inf
    #: (method, url) -> status of its last answer, None while none came (connection failed).
    answers: dict[tuple[str, str], int | None] = field(default_factory=dict)
    #: (method, url) -> when it was last sent, to tell a timeout from a refused connection.
    sent_at: dict[tuple[str, str], float] = field(default_factory=dict)
    repeats: int = 0


class _RateLimited(Exception):
    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__(f"rate limited (retry after {retry_after_s} s)")
        self.retry_after_s = retry_after_s


class _GaveUp(Exception):
    """Raised by a hook where huggingface_hub would sleep and retry."""


_CALL: ContextVar[_CallState | None] = ContextVar("msd_hub_call", default=None)
#: Retries allowed after an answer whose body was cut short (huggingface_hub resumes them).
MAX_RESUMES = 2
_HOOKS_LOCK = threading.Lock()
_hooks_installed = False


def call_hub(
    fn: Callable[[], T], *, settings: Settings, what: str, revision: str | None = None, download: bool = False
) -> T:
    """Run one Hub call within `hub_timeout_s`, retrying 429 answers within `hub_retry_budget_s`.

    A `download` (of weights: it may take long) has no deadline as a whole; each of its
    requests still gets `hub_timeout_s` to answer and between two reads.
    """
    check_online(settings)
    install_hooks()
    give_up_at = time.monotonic() + settings.hub_retry_budget_s
    for attempt in range(1, 1000):
        try:
            return call_with_deadline(fn, settings=settings, download=download)
        except _RateLimited as limited:
            wait_s = limited.retry_after_s if limited.retry_after_s is not None else min(2.0**attempt, 8.0)
            if time.monotonic() + wait_s > give_up_at:
                raise rate_limited_error(what, limited, settings) from None
            time.sleep(wait_s)
        except AppError:
            raise
        except Exception as error:  # noqa: BLE001 - every Hub failure becomes one sentence
            explained = explain_error(error, what, settings, revision=revision)
            if explained is None:
                raise
            raise explained from error
    raise rate_limited_error(what, _RateLimited(None), settings)


def check_online(settings: Settings) -> None:
    from huggingface_hub import constants

    if settings.hub_offline or constants.is_offline_mode():
        raise HubUnreachableError(
            "The Hub is not asked because HF_HUB_OFFLINE is set.", hint="Unset HF_HUB_OFFLINE to search the Hub."
        )


def call_with_deadline(fn: Callable[[], T], *, settings: Settings, download: bool = False) -> T:
    """Run `fn` in a daemon thread; past the timeout it is abandoned and the Hub reported unreachable."""
    timeout_s = settings.hub_timeout_s
    deadline = math.inf if download else time.monotonic() + timeout_s
    state = _CallState(deadline=deadline, request_timeout_s=timeout_s)
    outcome: dict[str, Any] = {}

    def run() -> None:
        _CALL.set(state)
        try:
            outcome["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="msd-hub-call", daemon=True)
    worker.start()
    worker.join(None if download else timeout_s)
    if worker.is_alive():
        raise unreachable_error(settings, f"no answer within {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def install_hooks() -> None:
    """Wrap huggingface_hub's client factory so its clients carry our two hooks (once per process)."""
    global _hooks_installed
    with _HOOKS_LOCK:
        if _hooks_installed:
            return
        try:
            # Private module: the factory in use is not exposed publicly. Without it the
            # deadline thread still bounds every call, only failures are reported later.
            from huggingface_hub import set_client_factory
            from huggingface_hub.utils import _http
        except ImportError:
            _hooks_installed = True
            return
        previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) or _http.default_client_factory

        def factory():
            client = previous()
            client.event_hooks["request"].append(_on_request)
            client.event_hooks["response"].append(_on_response)
            return client

        set_client_factory(factory)
        _hooks_installed = True


def _on_request(request) -> None:
    state = _CALL.get()
    if state is None:
        return
    key = (request.method, str(request.url))
    if key in state.answers:
        check_repeat(state, state.answers[key], waited_s=time.monotonic() - state.sent_at[key])
    remaining_s = state.deadline - time.monotonic()
    if remaining_s <= 0:
        raise _GaveUp("no answer within the timeout")
    state.answers[key], state.sent_at[key] = None, time.monotonic()
    limit_s = min(remaining_s, state.request_timeout_s)
    asked = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {
        name: min(limit_s, asked[name]) if asked.get(name) is not None else limit_s
        for name in ("connect", "read", "write", "pool")
    }


def check_repeat(state: _CallState, status: int | None, *, waited_s: float = 0.0) -> None:
    """huggingface_hub is about to retry: give up at once unless a body was cut short (then resume)."""
    if status is None and waited_s >= state.request_timeout_s * 0.9:  # the request's own timeout ran out
        raise _GaveUp(f"no answer within {state.request_timeout_s:g} s")
    if status is None:
        raise _GaveUp("the connection failed")
    if status >= 400:
        raise _GaveUp(f"it answered HTTP {status}")
    state.repeats += 1
    if state.repeats > MAX_RESUMES:
        raise _GaveUp("its answers kept being cut short")


def _on_response(response) -> None:
    state = _CALL.get()
    if state is None:
        return
    state.answers[(response.request.method, str(response.request.url))] = response.status_code
    if response.status_code == 429:
        raise _RateLimited(rate_limit_wait_s(response.headers))


def rate_limit_wait_s(headers) -> float | None:
    """How long a 429 answer asks us to wait: the Hub's `RateLimit` header (read by huggingface_hub's
    own parser), else `Retry-After` in seconds or as an HTTP date; None when neither says."""
    from huggingface_hub.utils import parse_ratelimit_headers

    limit = parse_ratelimit_headers(headers)
    if limit is not None and limit.remaining == 0:
        return float(limit.reset_in_seconds)
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((email.utils.parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def explain_error(error: BaseException, what: str, settings: Settings, *, revision: str | None = None) -> AppError | None:
    """Our hook signals and network errors first, then the shared Hub error sentences."""
    import httpx2
    from huggingface_hub import errors as hub_errors

    if isinstance(error, _GaveUp):
        return unreachable_error(settings, str(error))
    if isinstance(error, hub_errors.OfflineModeIsEnabled):
        return HubUnreachableError("The Hub is not asked because HF_HUB_OFFLINE is set.", hint="Unset HF_HUB_OFFLINE.")
    if isinstance(error, hub_errors.HFValidationError):  # raised before any request: not an id the Hub could have
        return RepoNotFoundError(
            f"{what} was not found on the Hub or on this machine: it is not a folder here, and not a Hub model id.",
            hint="Give a folder that exists, or a Hub id like org/name.",
        )
    if isinstance(error, httpx2.RemoteProtocolError):
        return unreachable_error(settings, "its answer was cut short")
    if isinstance(error, httpx2.TimeoutException):
        return unreachable_error(settings, f"no answer within {settings.hub_timeout_s:g} s")
    if isinstance(error, httpx2.TransportError):
        return unreachable_error(settings, "the connection failed")
    if isinstance(error, (json.JSONDecodeError, KeyError)):
        return HubError(f"The Hub at {settings.hf_endpoint} sent an answer that is not the Hub's API for {what}.",
                        hint="Check that HF_ENDPOINT points at a Hugging Face Hub or a mirror of it.")
    if isinstance(error, (hub_errors.HfHubHTTPError, hub_errors.EntryNotFoundError, OSError)):
        return explain_hub_error(error, what, revision=revision)
    return None  # a bug, not a Hub failure: let it surface as it is


def unreachable_error(settings: Settings, reason: str) -> HubUnreachableError:
    return HubUnreachableError(
        f"The Hub at {settings.hf_endpoint} could not be reached ({reason}).",
        hint=f"Check the network or HF_ENDPOINT; {setting_names.HUB_TIMEOUT_S} sets the timeout.",
    )


def rate_limited_error(what: str, limited: _RateLimited, settings: Settings) -> RateLimitedError:
    wait = f"{limited.retry_after_s:g} s" if limited.retry_after_s is not None else "a minute"
    return RateLimitedError(
        f"The Hub kept rate limiting {what} for {settings.hub_retry_budget_s:g} s.",
        hint=f"Wait {wait} and try again, or raise {setting_names.HUB_RETRY_BUDGET_S}; a token (HF_TOKEN) gets higher limits.",
    )
