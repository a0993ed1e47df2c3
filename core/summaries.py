"""Summarize-then-classify: rows longer than a threshold are summarized by a sequence-to-sequence model
(BART, T5, ...; loaded with the same checks as every model), then the trial's classifier reads the summaries.

Greedy decoding (one beam, no sampling) with a cap on new tokens, batched by length; the summaries of a
sample are cached in the data folder per summarizer (its commit), rows and cap, so every classifier of a
run (each in its own process) shares one pass. transformers 5 has no summarization pipeline: this is
`model.generate`, as that pipeline called it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from core.dataset import LabeledSample
from core.errors import ModelLoadError
from core.files import write_atomically
from core.loading import ModelSpec, fetch_model, load_model, release
from core.settings import Settings

MAX_NEW_TOKENS = 64
BATCH_SIZE = 8


@dataclass(frozen=True)
class SummaryStage:
    """What the first stage did: each summarized row's summary, and what it cost."""

    summarizer: str
    summaries: dict[int, str]
    seconds: float  # generating them (0 when they came from the cache)
    cached: bool
    max_new_tokens: int

    def applied_to(self, sample: LabeledSample) -> LabeledSample:
        texts = [self.summaries.get(row, text) for row, text in enumerate(sample.texts)]
        return replace(sample, texts=texts)

    @property
    def note(self) -> str:
        how = "read from the cache of an earlier trial" if self.cached else f"made in {self.seconds:.1f} s"
        return (f"{len(self.summaries)} long rows were summarized by {self.summarizer} first (greedy, at most "
                f"{self.max_new_tokens} new tokens; {how}); the classifier read the summaries.")


def summarize_rows(summarizer: str, sample: LabeledSample, rows: list[int], *, settings: Settings, device: str = "cpu",
                   max_new_tokens: int = MAX_NEW_TOKENS, report=None) -> SummaryStage:
    """The summaries of `rows`, from the cache or generated now (and cached)."""
    files = fetch_model(ModelSpec(summarizer), settings=settings)
    check_seq2seq(summarizer, files.config)
    texts = [sample.texts[row] for row in rows]
    cache = cache_path(settings, summarizer, files.sha, texts, max_new_tokens)
    if cache.exists():
        kept = json.loads(cache.read_text(encoding="utf-8"))
        return SummaryStage(summarizer, dict(zip(rows, kept)), 0.0, True, max_new_tokens)
    loaded = load_model(ModelSpec(summarizer), head="seq2seq", device=device, settings=settings, files=files)
    try:
        started = time.perf_counter()
        summaries = generate_summaries(loaded, texts, max_new_tokens=max_new_tokens, report=report)
        seconds = time.perf_counter() - started
    finally:
        release(loaded)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(cache, json.dumps(summaries, ensure_ascii=False))
    return SummaryStage(summarizer, dict(zip(rows, summaries)), round(seconds, 3), False, max_new_tokens)


def check_seq2seq(source: str, config: dict) -> None:
    if not config.get("is_encoder_decoder"):
        raise ModelLoadError(
            f"{source} is not a sequence-to-sequence model (its config has no encoder-decoder), so it cannot summarize.",
            hint="Name a summarizer such as a BART or T5 summarization model.",
        )


def cache_path(settings: Settings, summarizer: str, sha: str | None, texts: list[str], max_new_tokens: int) -> Path:
    digest = hashlib.sha256(json.dumps([summarizer, sha, max_new_tokens, texts], ensure_ascii=False).encode()).hexdigest()
    return Path(settings.data_dir) / "summaries" / f"{digest}.json"


def generate_summaries(loaded, texts: list[str], *, max_new_tokens: int, report=None) -> list[str]:
    """Greedy summaries, longest texts batched together; an empty summary keeps the original text."""
    tokenizer, model = loaded.tokenizer, loaded.model
    prefix = getattr(model.config, "prefix", None) or ""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    summaries = [""] * len(texts)
    for start in range(0, len(order), BATCH_SIZE):
        chosen = order[start: start + BATCH_SIZE]
        batch = tokenizer([prefix + texts[i] for i in chosen], truncation=True, max_length=loaded.max_length,
                          padding=True, return_tensors="pt").to(loaded.device)
        with torch.inference_mode():
            generated = model.generate(**batch, num_beams=1, do_sample=False, max_new_tokens=max_new_tokens)
        for i, ids in zip(chosen, generated):
            summary = tokenizer.decode(ids, skip_special_tokens=True).strip()
            summaries[i] = summary or texts[i]
        if report:
            report("summarizing", min(start + BATCH_SIZE, len(order)), len(order))
    return summaries
