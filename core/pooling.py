"""One vector per text from an encoder's token vectors, pooled the way the model was trained to be used.

A sentence-transformers repo says how in `modules.json` and its Pooling module's `config.json`
(`1_Pooling/config.json`): E5 and BGE take the CLS token and normalize, all-MiniLM and MPNet
take the mean. The embedding probe follows that declaration; a model without one is mean-pooled
over its real (unpadded) tokens, as sentence-transformers does by default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import ModelLoadError

POOLING_MODULE = "sentence_transformers.models.Pooling"
NORMALIZE_MODULE = "sentence_transformers.models.Normalize"
#: sentence-transformers' pooling modes in the order it concatenates them, by their config keys.
MODES = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}
UNSUPPORTED_MODES = ("pooling_mode_weightedmean_tokens",)


@dataclass(frozen=True)
class Pooling:
    """Which token vectors make the text's vector (concatenated in this order), and whether it is L2-normalized."""

    modes: tuple[str, ...] = ("mean",)
    normalize: bool = False
    declared_by: str | None = None  # the file that declared it; None for the default
    skipped_modules: tuple[str, ...] = ()  # sentence-transformers modules after pooling that are not applied

    def describe(self) -> str:
        how = " + ".join(self.modes) + " pooling" + (", L2-normalized" if self.normalize else "")
        origin = f"as {self.declared_by} declares" if self.declared_by else "the default: the repo declares no pooling"
        sentence = f"Embeddings: {how}, {origin}."
        if self.skipped_modules:
            sentence += f" The repo's {', '.join(self.skipped_modules)} module(s) after pooling are not applied."
        return sentence


def read_pooling(folder: Path) -> Pooling:
    """The pooling a sentence-transformers repo declares in `folder`, else mean pooling."""
    modules = read_modules(folder)
    pooling_module = next((m for m in modules if m.get("type") == POOLING_MODULE), None)
    if pooling_module is None:
        return Pooling()
    path = f"{pooling_module.get('path', '')}/config.json".lstrip("/")
    config = read_json(folder / path, folder.name)
    if not isinstance(config, dict):
        return Pooling()
    unsupported = [key for key in UNSUPPORTED_MODES if config.get(key)]
    if unsupported:
        raise ModelLoadError(f"{folder.name}/{path} asks for {unsupported[0]}, which the embedding probe does not implement.",
                             hint="Pick another encoder, or evaluate this model with a classification head.")
    modes = tuple(mode for mode, key in MODES.items() if config.get(key)) or ("mean",)
    after = modules[modules.index(pooling_module) + 1:]
    skipped = tuple(str(m.get("type", "")).rsplit(".", 1)[-1] for m in after if m.get("type") != NORMALIZE_MODULE)
    normalize = any(m.get("type") == NORMALIZE_MODULE for m in after)
    return Pooling(modes, normalize, path, skipped)


def read_modules(folder: Path) -> list[dict]:
    modules = read_json(folder / "modules.json", folder.name)
    return [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []


def read_json(path: Path, source: str):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{source}: {path.name} is not valid JSON ({error}).", hint="Re-save or re-download the model.") from error


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """The texts' vectors from their token vectors; padding never counts."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    lengths = mask.sum(dim=1).clamp(min=1e-9)
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    last = (attention_mask * positions).argmax(dim=1)  # the last real token, whichever side was padded
    by_mode = {
        "cls": lambda: hidden[:, 0],
        "max": lambda: hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values,
        "mean": lambda: (hidden * mask).sum(dim=1) / lengths,
        "mean_sqrt_len": lambda: (hidden * mask).sum(dim=1) / lengths.sqrt(),
        "lasttoken": lambda: hidden[torch.arange(hidden.shape[0], device=hidden.device), last],
    }
    vectors = torch.cat([by_mode[mode]() for mode in pooling.modes], dim=-1)
    return torch.nn.functional.normalize(vectors, p=2, dim=-1) if pooling.normalize else vectors


def pooled_forward(pooling: Pooling):
    """A forward for core.inference.run_batches that returns one pooled vector per row."""

    def forward(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return pool(model(**batch).last_hidden_state, batch["attention_mask"], pooling)

    return forward
