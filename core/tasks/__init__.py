"""The registry of evaluation kinds. Which kind fits a model (and `auto`) is core.kinds' rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core import kinds
from core.errors import InputError
from core.tasks.base import Kind
from core.tasks.baselines import MajorityBaseline, TfidfBaseline
from core.tasks.classification import TextClassification
from core.tasks.entities import Entities
from core.tasks.fine_tune import FineTune
from core.tasks.probe import EmbeddingProbe
from core.tasks.rules import RulesKind
from core.tasks.zero_shot import ZeroShotClassification

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (TextClassification(), ZeroShotClassification(), EmbeddingProbe(), FineTune(), Entities(),
                 MajorityBaseline(), TfidfBaseline(), RulesKind())
}
MODEL_KINDS = list(kinds.MODEL_KINDS)
BASELINE_KINDS = ["baseline-majority", "baseline-tfidf"]
AUTO = "auto"


def register_kind(kind: Kind) -> Kind:
    """Add an evaluation kind (a plugin named in MSD_PLUGINS registers its own at import); its name
    must be new. Returns the kind, so a module can register and keep it in one line."""
    name = getattr(kind, "name", None)
    if not name or not callable(getattr(kind, "prepare", None)) or not hasattr(kind, "head"):
        raise TypeError(f"{kind!r} is not an evaluation kind: it needs a name, a head and prepare(loaded, sample, options)")
    if name in KINDS and KINDS[name] is not kind:
        raise ValueError(f"an evaluation kind named {name!r} is registered already")
    KINDS[name] = kind
    return kind


@contextmanager
def kind_registered(kind: Kind) -> Iterator[Kind]:
    """`register_kind` for the length of a block (a test's kind), removed after it."""
    register_kind(kind)
    try:
        yield kind
    finally:
        KINDS.pop(kind.name, None)


def get_kind(name: str) -> Kind:
    """The kind registered under `name`; unknown names fail with the list of valid ones."""
    if name not in KINDS:
        raise InputError(f"Unknown evaluation kind {name!r}.", hint=f"Valid kinds: {', '.join([AUTO, *KINDS])}.")
    return KINDS[name]
