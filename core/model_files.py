"""Which files of a model repo or folder loading needs: config, weights, and exactly its tokenizer's files.

There is no hand-kept list of vocabulary file names that a new tokenizer family could slip past:
the tokenizer class comes from tokenizer_config.json, else config.json, else the model type (as
AutoTokenizer picks it), and transformers lists each class's files in `vocab_files_names`
(`spm.model` for DeBERTa-v2/v3, `sentencepiece.bpe.model` for XLM-RoBERTa, `vocab.json` and
`merges.txt` for RoBERTa, ...). Hub downloads and local folders (cache snapshots included)
follow the same rule, and a tokenizer whose vocabulary is missing is refused before anything
loads: transformers would otherwise build a tokenizer that maps every word to unknown.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

from core.errors import ModelLoadError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
WEIGHT_SUFFIXES = (".safetensors",) + PICKLE_SUFFIXES
#: Config and safetensors weights: what every model needs, whatever its tokenizer.
MODEL_PATTERNS = ("config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json")
#: The tokenizer files every family may have besides its vocabulary.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
#: A sentence-transformers repo's description of its pooling (read by core.pooling).
SENTENCE_TRANSFORMERS_PATTERNS = ("modules.json", "sentence_bert_config.json", "*_Pooling/config.json")
PICKLE_PATTERNS = ("pytorch_model*.bin", "pytorch_model.bin.index.json")
FAST_TOKENIZER_FILE = "tokenizer.json"


def tokenizer_class_name(config: Mapping, tokenizer_config: Mapping | None) -> str | None:
    """The tokenizer class AutoTokenizer would build: tokenizer_config.json's, else config.json's, else the model type's."""
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    named = (tokenizer_config or {}).get("tokenizer_class") or config.get("tokenizer_class")
    return str(named) if named else TOKENIZER_MAPPING_NAMES.get(str(config.get("model_type", "")))


def vocabulary_files(config: Mapping, tokenizer_config: Mapping | None) -> tuple[str, ...]:
    """The files the tokenizer class reads its vocabulary from (tokenizer.json aside); () when the class is unknown."""
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    name = tokenizer_class_name(config, tokenizer_config)
    tokenizer_class = tokenizer_class_from_name(name) if name else None
    names = getattr(tokenizer_class, "vocab_files_names", None) or {}
    return tuple(sorted({str(f) for f in names.values() if f != FAST_TOKENIZER_FILE}))


def files_to_load(
    names: Iterable[str], config: Mapping | None, tokenizer_config: Mapping | None, *, allow_pickle: bool,
    with_tokenizer: bool = True,
) -> list[str]:
    """The files of `names` that loading reads: never code, never pickle unless allowed and nothing safer exists."""
    names = list(names)
    patterns = list(MODEL_PATTERNS + SENTENCE_TRANSFORMERS_PATTERNS)
    if with_tokenizer:
        patterns += TOKENIZER_FILES + vocabulary_files(config or {}, tokenizer_config)
    chosen = [n for n in names if matches(n, patterns) and not n.endswith(PICKLE_SUFFIXES)]
    if allow_pickle and not any(n.endswith(".safetensors") for n in names):
        chosen += [n for n in names if matches(n, PICKLE_PATTERNS)]
    return sorted(set(chosen))


def matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def check_tokenizer_files(source: str, names: Iterable[str], config: Mapping, tokenizer_config: Mapping | None) -> None:
    """Refuse a model whose tokenizer class is unknown or whose vocabulary files are missing, naming them."""
    names = set(names)
    class_name = tokenizer_class_name(config, tokenizer_config)
    if FAST_TOKENIZER_FILE in names:
        return
    hint = "Use a complete copy of the model, or give a tokenizer from another id or folder (--tokenizer)."
    if class_name is None:
        raise ModelLoadError(f"{source} has no tokenizer.json and names no tokenizer class, so it has no usable tokenizer.", hint=hint)
    vocabulary = vocabulary_files(config, tokenizer_config)
    if not vocabulary:
        raise ModelLoadError(
            f"{source} names the tokenizer class {class_name}, which this transformers version does not have, "
            "and has no tokenizer.json to fall back on.",
            hint=hint,
        )
    missing = [f for f in vocabulary if f not in names]
    if missing:
        raise ModelLoadError(
            f"{source} has neither tokenizer.json nor {' and '.join(missing)} (the vocabulary of {class_name}), "
            "so its tokenizer would map every word to unknown.",
            hint=hint,
        )
