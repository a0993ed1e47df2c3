"""The usual ways, written as the tutorials and `evaluate` write them.

Each function returns a zero-argument callable that predicts every row and returns one
label per row, so it can be timed and its predictions compared with the engine's. They use
the very model object the engine loaded, so weights and threads are identical.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Predict = Callable[[], list[str]]


def _quiet_pipeline(task: str, model, tokenizer):
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "use a dataset for efficiency" warnings, once per call
    return pipeline(task, model=model, tokenizer=tokenizer, device="cpu")


def pipeline_loop(model, tokenizer, texts: list[str]) -> Predict:
    """(a) The tutorial loop: a text-classification pipeline called once per text."""
    classify = _quiet_pipeline("text-classification", model, tokenizer)
    return lambda: [classify(text, truncation=True)[0]["label"] for text in texts]


def pipeline_batched(model, tokenizer, texts: list[str], *, batch_size: int = 32) -> Predict:
    """(b) The pipeline called on the whole list with a batch size, as `evaluate`'s evaluator does."""
    classify = _quiet_pipeline("text-classification", model, tokenizer)
    return lambda: [out["label"] for out in classify(texts, batch_size=batch_size, truncation=True)]


def pair_loop(model, tokenizer, texts: list[str], candidates: list[str], template: str, entailment_id: int) -> Predict:
    """(a) Zero-shot as the common tutorial writes it: one model call per (text, label) pair.

    Scoring as the pipeline's (softmax of the entailment logits over the labels).
    """
    hypotheses = [template.format(label) for label in candidates]

    def predict() -> list[str]:
        labels = []
        with torch.no_grad():
            for text in texts:
                scores = []
                for hypothesis in hypotheses:
                    inputs = tokenizer(text, hypothesis, return_tensors="pt", truncation="only_first")
                    scores.append(model(**inputs).logits[0, entailment_id])
                labels.append(candidates[int(torch.stack(scores).argmax())])
        return labels

    return predict


def zero_shot_pipeline(model, tokenizer, texts: list[str], candidates: list[str], template: str, *, batch_size: int = 32) -> Predict:
    """(b) transformers' zero-shot-classification pipeline with a batch size."""
    classify = _quiet_pipeline("zero-shot-classification", model, tokenizer)

    def predict() -> list[str]:
        outputs = classify(texts, candidate_labels=candidates, hypothesis_template=template, batch_size=batch_size)
        return [out["labels"][0] for out in outputs]

    return predict
