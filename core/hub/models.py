"""The candidate data: what a search finds and a close look shows, and the small helpers they share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from core.errors import InputError
from core.kinds import choose_kinds

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


# --------------------------------------------------------------------------- card metadata


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
