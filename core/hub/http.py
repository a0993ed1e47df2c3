"""Bounded Hub calls: every request of ours to the Hub goes through `call_hub`.

huggingface_hub retries 429, 5xx and network errors itself, sleeping up to 8 s at a time
with no overall timeout. `call_hub` runs the call in a daemon thread abandoned past
`hub_timeout_s`, and two httpx hooks (active only inside our calls, marked by the `_CALL`
context variable) make huggingface_hub fail fast instead of sleeping, give every request
the time that is left, and turn 429 answers into retries here within `hub_retry_budget_s`.

The hooks are added by wrapping huggingface_hub's client factory, and this module is the
only place that touches huggingface_hub's private HTTP internals: `install_hooks` reads
`huggingface_hub.utils._http._GLOBAL_CLIENT_FACTORY` so that a factory someone else set
(through the public `set_client_factory`) keeps being used under ours. huggingface_hub has
no public getter for the factory in use. If the attribute goes, `install_hooks` falls back
to `default_client_factory` and every call is still bounded by the deadline thread;
`tests/test_hub.py::test_huggingface_hub_still_has_the_client_factory_our_hooks_wrap` fails
loudly so that the change is noticed.

This module imports nothing else from core.hub (the other modules build on it).
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from core import settings as setting_names
from core.errors import (
    AppError,
    HubError,
    HubUnreachableError,
    RateLimitedError,
    RepoNotFoundError,
    explain_hub_error,
)
from core.settings import Settings

T = TypeVar("T")


def hub_api(settings: Settings):
    from huggingface_hub import HfApi

    return HfApi(endpoint=settings.hf_endpoint, library_name="model-selection-dashboard")


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
