"""Reading a tokenizer and fitting it to its model: padding, vocabulary size, maximum length.

transformers 5 builds sentencepiece vocabularies (DeBERTa-v2/v3, XLM-RoBERTa, ALBERT) into fast
tokenizers with the `sentencepiece` and `protobuf` packages; without them it asks for `tiktoken`,
which does not help, so that error is reworded here to name the packages that do.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ModelLoadError

if TYPE_CHECKING:
    from core.loading import ModelSpec

#: Tokenizers without a real limit report this huge number as model_max_length.
UNBOUNDED_LENGTH = 100_000
#: Architectures whose position embeddings reserve `padding_idx + 1` slots.
OFFSET_POSITION_TYPES = {"roberta", "xlm-roberta", "camembert", "longformer", "mpnet", "xlm-roberta-xl"}




def read_tokenizer(location: str | Path, source: str) -> tuple[object, list[str]]:
    """The tokenizer in `location` (never with remote code), with a pad token, and notes for the trial."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as error:
        raise explain_tokenizer_error(error, source, Path(location)) from error
    return tokenizer, ensure_pad_token(tokenizer, source)


#: Packages that SentencePiece vocabularies (spm.model, spiece.model, ...) need, by import name.
SENTENCEPIECE_PACKAGES = {"sentencepiece": "sentencepiece", "protobuf": "google.protobuf"}


def explain_tokenizer_error(error: Exception, source: str, folder: Path) -> ModelLoadError:
    """One sentence for a tokenizer that did not load. transformers blames `tiktoken` when the
    SentencePiece packages are missing, which would send users to the wrong package: decided from
    the folder (a SentencePiece vocabulary, no tokenizer.json) and the installed packages, not from
    the wording of transformers' message."""
    missing = [name for name, module in SENTENCEPIECE_PACKAGES.items() if importlib.util.find_spec(module) is None]
    needs_sentencepiece = folder.is_dir() and not (folder / "tokenizer.json").is_file() and any(folder.glob("*.model"))
    if missing and needs_sentencepiece:
        return ModelLoadError(
            f"The tokenizer of {source} is a SentencePiece model, and reading it needs the package(s) {', '.join(missing)}, "
            "which this installation lacks.",
            hint="Install the project's requirements (pip install -r requirements.txt pins both).",
        )
    return ModelLoadError(
        f"No usable tokenizer for {source}: {str(error).splitlines()[0][:200] if str(error) else type(error).__name__}",
        hint="Give a tokenizer from another id or folder (--tokenizer).",
    )


def ensure_pad_token(tokenizer, source: str) -> list[str]:
    """Batched inference needs padding: fall back to the end-of-sequence token, as is common."""
    if tokenizer.pad_token is not None:
        return []
    if tokenizer.eos_token is None:
        raise ModelLoadError(
            f"The tokenizer of {source} has no padding token and no end-of-sequence token to use instead.",
            hint="Use a tokenizer that defines a pad token (--tokenizer).",
        )
    tokenizer.pad_token = tokenizer.eos_token
    return [f"The tokenizer has no padding token; its end-of-sequence token {tokenizer.eos_token!r} is used instead."]


def check_tokenizer_fits(tokenizer, config, source: str) -> None:
    vocab_size = getattr(config, "vocab_size", None)
    if vocab_size and len(tokenizer) > vocab_size:
        raise ModelLoadError(
            f"The tokenizer of {source} has {len(tokenizer):,} tokens but the model only has {vocab_size:,} embeddings, "
            "so some token ids would fall outside the model.",
            hint="Use the tokenizer the model was trained with (leave --tokenizer unset or point it to the right one).",
        )
    if tokenizer.pad_token_id is not None and getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id


def resolve_max_length(spec: ModelSpec, tokenizer, config) -> int:
    """The longest input the model accepts; a user's value may lower it, never raise it."""
    positions = getattr(config, "max_position_embeddings", None) or UNBOUNDED_LENGTH
    if getattr(config, "model_type", "") in OFFSET_POSITION_TYPES:
        positions -= 2
    limit = min(positions, tokenizer.model_max_length if tokenizer.model_max_length < UNBOUNDED_LENGTH else positions)
    if spec.max_length is None:
        return int(limit)
    if spec.max_length > limit:
        raise ModelLoadError(
            f"Maximum length {spec.max_length} is more than {spec.source} accepts ({limit} tokens).",
            hint=f"Use a maximum length of at most {limit}.",
        )
    return int(spec.max_length)
