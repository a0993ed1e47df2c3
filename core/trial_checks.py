"""Guards that stop a trial from showing a number that looks right but is not.

A tokenizer without its vocabulary maps every word to its unknown token; the model then sees
nothing of the text, predicts one label for every row, and the accuracy it gets (the share of
that label) looks like a real score. These checks run on every model trial: the vocabulary
check before anything is timed (an error row with a sentence), the prediction checks after
scoring (a warning on the trial's leaderboard row).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.errors import ModelLoadError
from core.loading import LoadedModel, read_optional_json
from core.model_files import FAST_TOKENIZER_FILE, vocabulary_files

#: Above this share of unknown tokens the trial is an error: the model sees less than half of
#: the text, so its score says nothing about it. A complete vocabulary on text in its language
#: stays far below 1% (emoji and rare scripts are what remain); a missing vocabulary is near 100%.
UNKNOWN_TOKEN_ERROR_SHARE = 0.5
#: Above this share the trial runs, with a warning that the model misses part of the text.
UNKNOWN_TOKEN_WARNING_SHARE = 0.05
#: Rows tokenized for the check: spread over the whole sample, enough for a share to a percent.
VOCABULARY_CHECK_ROWS = 2000
#: A tokenizer with fewer tokens than this share of the model's embedding rows has lost its vocabulary.
SMALL_VOCABULARY_SHARE = 0.1
#: Fewer rows than this say too little for "every row got the same label" to be a warning.
MIN_ROWS_FOR_CONSTANT_WARNING = 10


def unknown_token_share(tokenizer, texts: Sequence[str]) -> float | None:
    """The share of the texts' tokens that are the tokenizer's unknown token (None: it has none)."""
    unknown_id = tokenizer.unk_token_id
    if unknown_id is None or not texts:
        return None
    rows = np.unique(np.linspace(0, len(texts) - 1, num=min(len(texts), VOCABULARY_CHECK_ROWS)).round().astype(int))
    encoded = tokenizer([texts[i] for i in rows], add_special_tokens=False, truncation=False)["input_ids"]
    total = sum(len(ids) for ids in encoded)
    unknown = sum(ids.count(unknown_id) for ids in encoded)
    return unknown / total if total else None


def vocabulary_names(loaded: LoadedModel) -> str:
    """The files the model's tokenizer reads its vocabulary from, for a sentence."""
    folder = loaded.files.local_dir
    config = loaded.config.to_dict()
    files = vocabulary_files(config, read_optional_json(folder / "tokenizer_config.json"))
    return " or ".join([FAST_TOKENIZER_FILE, *files])


def check_vocabulary(loaded: LoadedModel, texts: Sequence[str]) -> list[str]:
    """Refuse a tokenizer that maps most of the sample to unknown; warnings for lesser gaps."""
    source = loaded.spec.tokenizer or loaded.spec.source
    share = unknown_token_share(loaded.tokenizer, texts)
    if share is not None and share > UNKNOWN_TOKEN_ERROR_SHARE:
        raise ModelLoadError(
            f"{share:.0%} of the sample's tokens are unknown to the tokenizer of {source} "
            f"({loaded.tokenizer.unk_token!r}), so the model would see almost none of the text: its vocabulary "
            f"({vocabulary_names(loaded)}) is missing, incomplete or not this model's, or the text is in a script it does not cover.",
            hint="Use a complete copy of the model, or give the right tokenizer (--tokenizer).",
        )
    warnings = []
    if share is not None and share > UNKNOWN_TOKEN_WARNING_SHARE:
        warnings.append(f"{share:.0%} of the sample's tokens are unknown to its tokenizer, so the model misses part of the text.")
    embeddings = getattr(loaded.config, "vocab_size", None)
    if embeddings and len(loaded.tokenizer) < SMALL_VOCABULARY_SHARE * embeddings:
        warnings.append(f"Its tokenizer has only {len(loaded.tokenizer):,} tokens for {embeddings:,} embeddings: "
                        f"its vocabulary ({vocabulary_names(loaded)}) is probably missing.")
    return warnings


def prediction_warnings(labels: Sequence[tuple[str, ...]], scores: Sequence[float], label_set: Sequence[str]) -> list[str]:
    """Warnings when the predictions do not depend on the text: one label, or one score, for every row."""
    if len(labels) < MIN_ROWS_FOR_CONSTANT_WARNING or len(label_set) < 2:
        return []
    warnings = []
    distinct = set(labels)
    if len(distinct) == 1:
        shown = "; ".join(next(iter(distinct))) or "no label"
        warnings.append(f"Every row was predicted {shown!r}: the accuracy is that label's share of the sample, not skill.")
    if scores and max(scores) - min(scores) < 1e-6:
        warnings.append(f"Every row got the same score ({scores[0]:.4f}): the model's output does not depend on the text.")
    return warnings
