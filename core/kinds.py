"""One rule for which evaluation kinds a model fits, which one `auto` picks, and why.

Discover's "fits" column, the Evaluate page's default and `--kind auto` all ask `choose_kinds`,
so they cannot disagree. The architecture in config.json decides whenever it is known, because
it is what gets loaded: a sequence-classification head is evaluated as a classifier whatever
the Hub tag says, and a bare encoder is probed even when it is tagged text-classification
(loading it as a classifier would score a randomly initialised head). The Hub pipeline tag
decides only while the config is not known (a search result before its details are read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TEXT_CLASSIFICATION = "text-classification"
ZERO_SHOT = "zero-shot-classification"
PROBE = "embedding-probe"
FINE_TUNE = "fine-tune"  # never picked by auto: it trains, so it is asked for
MODEL_KINDS = (TEXT_CLASSIFICATION, ZERO_SHOT, PROBE, FINE_TUNE)
#: Hub pipeline tags whose models are used for their embeddings.
PROBE_TAGS = ("feature-extraction", "sentence-similarity", "fill-mask")
HEAD_SUFFIX = "ForSequenceClassification"


@dataclass(frozen=True)
class KindChoice:
    """The kinds a model fits (best first), the one `auto` runs, and the reason in words."""

    fits: tuple[str, ...]
    auto: str | None
    reason: str


def entailment_index(label2id: Mapping[str, int]) -> int | None:
    """The id of the label starting with 'entail' (case-insensitive), found as the zero-shot pipeline finds it."""
    for label, index in label2id.items():
        if str(label).lower().startswith("entail"):
            return int(index)
    return None


def is_nli(config: Mapping) -> bool:
    """Whether the config's labels name an entailment class (label2id, or id2label when that is all there is)."""
    label2id = dict(config.get("label2id") or {})
    label2id |= {str(name): int(i) for i, name in (config.get("id2label") or {}).items() if str(i).lstrip("-").isdigit()}
    return entailment_index(label2id) is not None


def choose_kinds(config: Mapping | None, pipeline_tag: str | None = None, sample_labels: Iterable[str] = ()) -> KindChoice:
    """Which kinds fit a model and which `auto` picks, from its config (when known) and Hub tag."""
    config = config or {}
    nli_sample = "entailment" in {str(label).lower() for label in sample_labels}
    architectures = [str(a) for a in config.get("architectures") or []]
    if architectures:
        return _by_architecture(config, architectures, pipeline_tag, nli_sample)
    return _by_tag(config, pipeline_tag, nli_sample)


def _by_architecture(config: Mapping, architectures: list[str], tag: str | None, nli_sample: bool) -> KindChoice:
    if not any(a.endswith(HEAD_SUFFIX) for a in architectures):
        shown = ", ".join(architectures)
        return KindChoice((PROBE,), PROBE, f"{shown} has no classification head, so its embeddings are probed")
    if is_nli(config):
        return _nli_choice(nli_sample, "its labels include an entailment class (an NLI model)")
    reason = "it has a sequence-classification head"
    if tag in PROBE_TAGS:
        reason += f" (its Hub tag {tag} is set aside: the head is what loads)"
    return KindChoice((TEXT_CLASSIFICATION, PROBE), TEXT_CLASSIFICATION, reason)


def _by_tag(config: Mapping, tag: str | None, nli_sample: bool) -> KindChoice:
    if tag == ZERO_SHOT or (tag == TEXT_CLASSIFICATION and is_nli(config)):
        return _nli_choice(nli_sample, f"its Hub pipeline tag is {tag} and its config was not read")
    if tag == TEXT_CLASSIFICATION:
        return KindChoice((TEXT_CLASSIFICATION, PROBE), TEXT_CLASSIFICATION, f"its Hub pipeline tag is {tag}")
    if tag in PROBE_TAGS:
        return KindChoice((PROBE,), PROBE, f"its Hub pipeline tag is {tag}")
    return KindChoice((), None, "neither its config nor its Hub tag says what it does")


def _nli_choice(nli_sample: bool, why: str) -> KindChoice:
    """An NLI model classifies zero-shot, unless the sample itself is NLI data (labels like 'entailment')."""
    if nli_sample:
        return KindChoice((TEXT_CLASSIFICATION, ZERO_SHOT, PROBE), TEXT_CLASSIFICATION,
                          f"{why} and the sample's labels are NLI labels too")
    return KindChoice((ZERO_SHOT, PROBE), ZERO_SHOT, why)
