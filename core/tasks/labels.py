"""Matching a model's label names to the sample's labels."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import LabelMappingError

SYNONYM_GROUPS = [
    {"positive", "pos", "labelpositive"},
    {"negative", "neg", "labelnegative"},
    {"neutral", "neu", "labelneutral"},
    {"entailment", "entail", "entailed"},
    {"contradiction", "contra", "contradict"},
    {"true", "yes", "y"},
    {"false", "no", "n"},
]
INDEX_LABEL = re.compile(r"^LABEL_(\d+)$")
#: The sample label an override gives a model label the user chose to leave unmapped.
LEFT_UNMAPPED = ""


def normalize(label: str) -> str:
    """Case-, space-, underscore- and hyphen-insensitive form of a label."""
    return re.sub(r"[\s_\-]+", "", label.strip().lower())


def _synonyms(label: str) -> set[str]:
    key = normalize(label)
    for group in SYNONYM_GROUPS:
        if key in group:
            return group
    return {key}


@dataclass(frozen=True)
class LabelMapping:
    """Model label -> sample label, how each was matched, and what is left over."""

    model_to_data: dict[str, str]
    how: dict[str, str]
    unmapped_model: list[str] = field(default_factory=list)
    unmapped_data: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        notes = []
        if self.unmapped_model:
            notes.append(f"Model labels with no sample label (predicting them counts as wrong): {', '.join(self.unmapped_model)}.")
        if self.unmapped_data:
            notes.append(f"Sample labels the model cannot predict (those rows are always wrong): {', '.join(self.unmapped_data)}.")
        return notes


def map_labels(
    model_labels: list[str], data_labels: list[str], *, overrides: dict[str, str] | None = None, by_index: bool = False
) -> LabelMapping:
    """Map automatically (exact, normalized, synonyms, LABEL_k by index if asked), overrides first."""
    overrides = dict(overrides or {})
    _check_overrides(overrides, model_labels, data_labels)
    mapping, how = {}, {}
    for model_label in model_labels:
        target, method = _match_one(model_label, data_labels, overrides, by_index)
        if method:  # also "override" for a label the user left unmapped
            how[model_label] = method
        if target is not None:
            mapping[model_label] = target
    if not mapping:
        raise LabelMappingError(
            f"None of the model's labels ({', '.join(model_labels)}) match the sample's labels ({', '.join(data_labels)}).",
            hint="Map them explicitly, e.g. --label-map MODEL_LABEL=SAMPLE_LABEL (repeatable), "
            "or use LABEL_k index mapping if the model was fine-tuned on these labels in sorted order.",
        )
    used = set(mapping.values())
    return LabelMapping(
        model_to_data=mapping,
        how=how,
        unmapped_model=[m for m in model_labels if m not in mapping],
        unmapped_data=[d for d in data_labels if d not in used],
    )


def _check_overrides(overrides: dict[str, str], model_labels: list[str], data_labels: list[str]) -> None:
    for model_label, data_label in overrides.items():
        if model_label not in model_labels:
            raise LabelMappingError(
                f"The label map names model label {model_label!r}, which the model does not have.",
                hint=f"The model's labels are: {', '.join(model_labels)}.",
            )
        if data_label != LEFT_UNMAPPED and data_label not in data_labels:
            raise LabelMappingError(
                f"The label map names sample label {data_label!r}, which is not in the sample.",
                hint=f"The sample's labels are: {', '.join(data_labels)}.",
            )


def _match_one(model_label: str, data_labels: list[str], overrides: dict[str, str], by_index: bool):
    if model_label in overrides:
        return overrides[model_label] or None, "override"
    if model_label in data_labels:
        return model_label, "exact"
    normalized = {normalize(d): d for d in data_labels}
    if normalize(model_label) in normalized:
        return normalized[normalize(model_label)], "normalized"
    synonyms = _synonyms(model_label)
    for data_label in data_labels:
        if normalize(data_label) in synonyms:
            return data_label, "synonym"
    index = INDEX_LABEL.match(model_label)
    if by_index and index and int(index.group(1)) < len(data_labels):
        return data_labels[int(index.group(1))], "index"
    return None, ""
