"""Hub search by task, merged with the local candidates, and its cache of results.

Named `searching` rather than `search` so that `core.hub.search` stays the function.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from core.errors import HubError
from core.hub.http import call_hub, hub_api
from core.hub.local import list_local
from core.hub.models import (
    EXPAND,
    SORTS,
    ModelCandidate,
    SearchQuery,
    SearchResult,
    as_tuple,
    card_license,
    kinds_for,
    labels_from_config,
)
from core.hub.readiness import with_checks
from core.settings import Settings, get_settings


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
