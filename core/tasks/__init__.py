"""The registry of evaluation kinds, and `auto`: picking a kind from a model's config."""

from __future__ import annotations

from core.errors import InputError
from core.tasks.base import Kind
from core.tasks.baselines import MajorityBaseline, TfidfBaseline
from core.tasks.classification import TextClassification
from core.tasks.probe import EmbeddingProbe
from core.tasks.zero_shot import ZeroShotClassification, entailment_index

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (TextClassification(), ZeroShotClassification(), EmbeddingProbe(), MajorityBaseline(), TfidfBaseline())
}
MODEL_KINDS = ["text-classification", "zero-shot-classification", "embedding-probe"]
BASELINE_KINDS = ["baseline-majority", "baseline-tfidf"]
AUTO = "auto"
PIPELINE_TAG_KINDS = {
    "text-classification": "text-classification",
    "zero-shot-classification": "zero-shot-classification",
    "feature-extraction": "embedding-probe",
    "sentence-similarity": "embedding-probe",
}


def get_kind(name: str) -> Kind:
    """The kind registered under `name`; unknown names fail with the list of valid ones."""
    if name not in KINDS:
        raise InputError(f"Unknown evaluation kind {name!r}.", hint=f"Valid kinds: {', '.join([AUTO, *KINDS])}.")
    return KINDS[name]


def pick_kind(config: dict, pipeline_tag: str | None, sample_labels: list[str]) -> tuple[str, str]:
    """The kind `auto` means for this model, and the reason in words."""
    architectures = config.get("architectures") or []
    is_classifier = any(a.endswith("ForSequenceClassification") for a in architectures)
    is_nli = entailment_index(config.get("label2id") or {}) is not None
    if is_classifier and is_nli and "entailment" not in {label.lower() for label in sample_labels}:
        return "zero-shot-classification", "its labels include 'entailment' (an NLI model)"
    if pipeline_tag in PIPELINE_TAG_KINDS and not (pipeline_tag == "text-classification" and not is_classifier):
        return PIPELINE_TAG_KINDS[pipeline_tag], f"its Hub pipeline tag is {pipeline_tag}"
    if is_classifier:
        return "text-classification", "it has a sequence-classification head"
    return "embedding-probe", "it has no classification head, so its embeddings are probed"
