"""The registry of evaluation kinds. Which kind fits a model (and `auto`) is core.kinds' rule."""

from __future__ import annotations

from core import kinds
from core.errors import InputError
from core.tasks.base import Kind
from core.tasks.baselines import MajorityBaseline, TfidfBaseline
from core.tasks.classification import TextClassification
from core.tasks.probe import EmbeddingProbe
from core.tasks.zero_shot import ZeroShotClassification

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (TextClassification(), ZeroShotClassification(), EmbeddingProbe(), MajorityBaseline(), TfidfBaseline())
}
MODEL_KINDS = list(kinds.MODEL_KINDS)
BASELINE_KINDS = ["baseline-majority", "baseline-tfidf"]
AUTO = "auto"


def get_kind(name: str) -> Kind:
    """The kind registered under `name`; unknown names fail with the list of valid ones."""
    if name not in KINDS:
        raise InputError(f"Unknown evaluation kind {name!r}.", hint=f"Valid kinds: {', '.join([AUTO, *KINDS])}.")
    return KINDS[name]
