"""The readiness checklist: each trust signal as a flag with its reason, and filtering and ranking by it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone

from core import settings as setting_names
from core.hub.models import CHECK_NAMES, Check, ModelCandidate, check_choice
from core.settings import Settings

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
