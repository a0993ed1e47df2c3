"""Whether the Hub can be reached right now, in one word and one sentence, for every page's sidebar.

The answer is shared by all sessions (it is about the server, not a user) and kept for a
short time, so rendering a page never waits on the Hub more than once a minute.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from core import hub
from core.errors import HubError
from core.settings import Settings, get_settings

PUBLIC_HUB = "https://huggingface.co"
ONLINE, MIRROR, OFFLINE = "online", "mirror", "offline"
#: How long one answer is reused; the probe itself waits at most PROBE_TIMEOUT_S.
STATUS_TTL_S = 60.0
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class HubStatus:
    state: str  # online | mirror | offline
    endpoint: str
    sentence: str
    checked_at: float = 0.0


_lock = threading.Lock()
_last: dict[tuple, HubStatus] = {}


def hub_status(*, settings: Settings | None = None, max_age_s: float = STATUS_TTL_S) -> HubStatus:
    """The Hub's state, probed with one bounded request at most every `max_age_s` seconds."""
    settings = settings or get_settings()
    key = (settings.hf_endpoint, settings.hub_offline)
    with _lock:
        cached = _last.get(key)
    if cached and time.monotonic() - cached.checked_at < max_age_s:
        return cached
    status = replace(probe(settings), checked_at=time.monotonic())
    with _lock:
        _last[key] = status
    return status


def probe(settings: Settings) -> HubStatus:
    """Ask the Hub for one model: the cheapest request that proves search works."""
    endpoint = settings.hf_endpoint
    quick = replace(settings, hub_timeout_s=min(settings.hub_timeout_s, PROBE_TIMEOUT_S), hub_retry_budget_s=0.0)
    api = hub.hub_api(quick)
    try:
        hub.call_hub(lambda: list(api.list_models(limit=1)), settings=quick, what="the status check")
    except HubError as error:
        return HubStatus(OFFLINE, endpoint, f"{error.message} Search shows local models only.")
    if endpoint == PUBLIC_HUB:
        return HubStatus(ONLINE, endpoint, "The Hugging Face Hub answers.")
    return HubStatus(MIRROR, endpoint, f"A Hub mirror answers at {endpoint}.")


def forget() -> None:
    """Drop remembered answers (tests, or after the administrator changes the endpoint)."""
    with _lock:
        _last.clear()
