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

The package, one module per job (each imports only those listed before it):
`models` the candidate data classes and shared helpers, `readiness` the checklist,
`http` the bounded calls (`call_hub`), `local` the cache and model folders, `searching`
the search and its cache, `details` one candidate looked at closely. The names other code
uses are re-exported here, so `from core import hub; hub.search(...)` keeps working; patch
a name in the module where it is defined and looked up, not here.
"""

from __future__ import annotations

from core.hub.details import model_details
from core.hub.http import MAX_RESUMES, call_hub, hub_api
from core.hub.local import (
    cached_snapshot,
    candidate_from_folder,
    folder_parameters,
    list_local,
    starter_candidates,
    strip_front_matter,
)
from core.hub.models import (
    CHECK_NAMES,
    EXPAND,
    MAX_LIMIT,
    SORTS,
    TASKS,
    Check,
    ModelCandidate,
    ModelDetails,
    ModelFile,
    SearchQuery,
    SearchResult,
    kinds_for,
)
from core.hub.readiness import check_readiness, passing, rank, with_checks
from core.hub.searching import clear_search_cache, search

__all__ = [
    "CHECK_NAMES", "EXPAND", "MAX_LIMIT", "SORTS", "TASKS",
    "Check", "ModelCandidate", "ModelDetails", "ModelFile", "SearchQuery", "SearchResult", "kinds_for",
    "check_readiness", "passing", "rank", "with_checks",
    "MAX_RESUMES", "call_hub", "hub_api",
    "cached_snapshot", "candidate_from_folder", "folder_parameters", "list_local", "starter_candidates",
    "strip_front_matter",
    "clear_search_cache", "search",
    "model_details",
]
