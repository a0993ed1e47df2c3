"""What a user should know about a sample before running models on it.

The sample itself already carries warnings about dropped rows, duplicates and rare labels
(core/dataset.py). This adds the checks that need more context: class imbalance, and texts
longer than a shortlisted model's maximum length, counted with that model's own tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.dataset import LabeledSample
from core.hub import ModelCandidate
from core.loading import ModelSpec
from core.tokenizing import resolve_max_length

#: The largest class may be at most this many times the smallest before we warn.
IMBALANCE_RATIO = 10.0
#: Fewer rows than this per class make per-class scores and intervals very wide.
MIN_ROWS_PER_CLASS = 20


@dataclass(frozen=True)
class LengthCheck:
    """How many rows a model would truncate; `long_rows` is None when it cannot be counted yet."""

    model: str
    max_length: int | None
    long_rows: int | None
    reason: str = ""


def balance_warnings(sample: LabeledSample) -> list[str]:
    """Imbalance and small classes, in words, with what they mean for the scores."""
    counts = {label: count for label, count in sample.label_counts.items() if count}
    if len(counts) < 2:
        return []
    notes = []
    small = sorted(label for label, count in counts.items() if count < MIN_ROWS_PER_CLASS)
    if small:
        notes.append(f"{len(small)} label(s) have fewer than {MIN_ROWS_PER_CLASS} rows ({', '.join(small)}): "
                     "their per-class scores will have wide intervals.")
    largest, smallest = max(counts.values()), min(counts.values())
    if largest / smallest > IMBALANCE_RATIO:
        share = largest / sum(counts.values())
        notes.append(f"The classes are imbalanced ({largest} vs {smallest} rows): the majority baseline already scores "
                     f"{share:.0%} accuracy, so compare macro-F1 too.")
    return notes


def check_lengths(sample: LabeledSample, candidates: list[ModelCandidate]) -> list[LengthCheck]:
    """Rows longer than each candidate's maximum length, for candidates whose tokenizer is on disk."""
    return [_check_length(sample, candidate) for candidate in candidates]


def _check_length(sample: LabeledSample, candidate: ModelCandidate) -> LengthCheck:
    folder = _tokenizer_folder(candidate)
    if folder is None:
        return LengthCheck(candidate.id, None, None, "its tokenizer is not on this server yet; the run reports truncation")
    try:
        tokenizer = _load_tokenizer(folder)
        max_length = _max_length(tokenizer, folder)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return LengthCheck(candidate.id, None, None, f"its tokenizer could not be read ({type(error).__name__})")
    lengths = [len(ids) for ids in tokenizer(sample.texts, sample.pairs, truncation=False)["input_ids"]]
    return LengthCheck(candidate.id, max_length, sum(length > max_length for length in lengths))


def _tokenizer_folder(candidate: ModelCandidate) -> Path | None:
    if candidate.local_path and Path(candidate.local_path).is_dir():
        return Path(candidate.local_path)
    return None


def _load_tokenizer(folder: Path):
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "sequence longer than the maximum" is what we are counting
    return AutoTokenizer.from_pretrained(folder, trust_remote_code=False)


def _max_length(tokenizer, folder: Path) -> int:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    return resolve_max_length(ModelSpec(str(folder)), tokenizer, config)
