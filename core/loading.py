"""Model + tokenizer + config overrides, from a Hub id or a local folder, with safety checks.

Safety is enforced here and only here: no remote code ever (`trust_remote_code` is
never passed as True, and repos that declare code are refused), safetensors only unless
an administrator allows pickle files (and then only pickles that hold nothing but tensors),
and every check runs on the file list before any weight is downloaded or read. Before a
download, its size is checked against the budget and the free disk of the cache.
"""

from __future__ import annotations

import gc
import json
import pickle
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError

from core import settings as setting_names
from core.devices import check_device, check_dtype, place_model
from core.download_budget import check_download_fits, missing_bytes
from core.errors import HubUnreachableError, ModelLoadError, UnsafeModelError
from core.model_files import PICKLE_SUFFIXES, WEIGHT_SUFFIXES, check_tokenizer_files, files_to_load
from core.settings import Settings, get_settings
from core.tokenizing import check_tokenizer_fits, read_tokenizer, resolve_max_length

Head = Literal["classifier", "encoder", "seq2seq", "token-classifier"]

@dataclass(frozen=True)
class ModelSpec:
    """What the user asked for: where the model is and how to override its config."""

    source: str
    revision: str | None = None
    tokenizer: str | None = None
    num_labels: int | None = None
    id2label: dict[int, str] | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class ModelFiles:
    """A model folder on this machine, with where it came from."""

    source: str
    local_dir: Path
    sha: str | None
    is_local: bool
    size_bytes: int
    download_s: float = 0.0
    pipeline_tag: str | None = None
    note: str | None = None  # how the files were found, when users should know (e.g. the cache, offline)

    @property
    def config(self) -> dict:
        return read_config(self.local_dir, self.source)


@dataclass
class LoadedModel:
    spec: ModelSpec
    files: ModelFiles
    model: torch.nn.Module
    tokenizer: object
    device: str
    dtype: str
    max_length: int
    load_s: float
    parameters: int
    notes: list[str] = field(default_factory=list)
    #: The onnxruntime runtime: the ONNX file the model runs from (core.onnx_export.OnnxExport).
    export: object | None = None

    @property
    def config(self):
        return self.model.config

    @property
    def sha(self) -> str | None:
        return self.files.sha


def is_local_source(source: str) -> bool:
    return Path(source).expanduser().is_dir()


def fetch_model(spec: ModelSpec, *, settings: Settings | None = None) -> ModelFiles:
    """Make the model's files available locally (downloading safe files only) and check them.

    When the Hub cannot be reached, a copy of the repo already in this machine's cache is used
    (checked like a local folder), and the files say so in `note`.
    """
    settings = settings or get_settings()
    if is_local_source(spec.source):
        return checked_folder(spec, Path(spec.source).expanduser().resolve(), settings, sha=None)
    try:
        return download_model(spec, settings)
    except HubUnreachableError as unreachable:
        folder = cached_snapshot(spec, settings)
        if folder is None:
            raise
        files = checked_folder(spec, folder, settings, sha=folder.name)
        note = f"{unreachable.sentence} Used the copy of {spec.source} in this machine's cache (commit {folder.name[:12]})."
        return replace(files, is_local=False, note=note)


def checked_folder(spec: ModelSpec, folder: Path, settings: Settings, *, sha: str | None) -> ModelFiles:
    """A model folder on this machine, put through the same checks as a download."""
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    tokenizer_config = read_optional_json(folder / "tokenizer_config.json")
    config = read_config(folder, spec.source)
    check_files_are_safe(spec.source, files, config, settings, tokenizer_config=tokenizer_config)
    if spec.tokenizer is None:
        check_tokenizer_files(spec.source, files, config, tokenizer_config)
    return ModelFiles(spec.source, folder, sha, True, weights_size(folder))


def cached_snapshot(spec: ModelSpec, settings: Settings) -> Path | None:
    """The repo's revision in the Hugging Face cache, if it is there with its config and weights."""
    from core import hub

    folder = hub.cached_snapshot(spec.source, spec.revision, settings)
    if folder is None or not (folder / "config.json").is_file():
        return None
    return folder if weights_complete(folder) else None


def weights_complete(folder: Path) -> bool:
    """Every weight shard its index names is there (or, unsharded, some weights are)."""
    index = next(folder.glob("*.index.json"), None)
    if index is None:
        return weights_size(folder) > 0
    shards = set((read_optional_json(index) or {}).get("weight_map", {}).values())
    return bool(shards) and all((folder / shard).is_file() for shard in shards)


def download_model(spec: ModelSpec, settings: Settings) -> ModelFiles:
    """Check a Hub repo from its file list and small JSON files, then download the allowed files.

    Every request goes through `hub.call_hub`: bounded in time, 429 answers retried within the
    retry budget, every failure one sentence. No weight file is requested before the checks pass.
    """
    from core import hub

    started = time.perf_counter()
    api = hub.hub_api(settings)

    def call(fn, *, download: bool = False):
        return hub.call_hub(fn, settings=settings, what=spec.source, revision=spec.revision, download=download)

    info = call(lambda: api.model_info(spec.source, revision=spec.revision, files_metadata=True))
    sizes = {s.rfilename: s.size for s in info.siblings or []}
    if "config.json" not in sizes:
        raise ModelLoadError(f"{spec.source} has no config.json, so it is not a transformers model.",
                             hint="Pick a repo that holds config.json and the weights.")
    config_dir = fetch_repo_file(call, api, info, "config.json", settings).parent
    tokenizer_config = None
    if "tokenizer_config.json" in sizes:
        tokenizer_config = read_optional_json(fetch_repo_file(call, api, info, "tokenizer_config.json", settings))
    config = read_config(config_dir, spec.source)
    check_files_are_safe(spec.source, list(sizes), config, settings, tokenizer_config=tokenizer_config)
    if spec.tokenizer is None:
        check_tokenizer_files(spec.source, sizes, config, tokenizer_config)
    chosen = files_to_load(sizes, config, tokenizer_config, allow_pickle=settings.allow_pickle,
                           with_tokenizer=spec.tokenizer is None)
    check_download_fits(spec.source, missing_bytes(info, chosen, settings), settings)
    for name in chosen:
        fetch_repo_file(call, api, info, name, settings)
    elapsed_s = time.perf_counter() - started
    return ModelFiles(spec.source, config_dir, info.sha, False, weights_size(config_dir), elapsed_s, info.pipeline_tag)


def fetch_repo_file(call, api, info, name: str, settings: Settings) -> Path:
    """One file of the repo at the sha model_info listed, from the cache when it is there already."""
    path = call(
        lambda: api.hf_hub_download(info.id, name, revision=info.sha, cache_dir=settings.hf_hub_cache),
        download=name.endswith(WEIGHT_SUFFIXES),
    )
    return Path(path)


def read_config(folder: Path, source: str) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(
            f"{source} has no config.json, so it is not a transformers model folder.",
            hint="Point to the folder that holds config.json and the weights.",
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{source}/config.json is not valid JSON ({error}).", hint="Re-save the model.") from error


def read_optional_json(path: Path) -> dict | None:
    """A JSON object from a file that may be missing or broken (then None: the loader reports it later)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def has_safetensors(names: list[str]) -> bool:
    return any(name.endswith(".safetensors") for name in names)


def declared_code(names: list[str], config: dict, tokenizer_config: dict | None) -> list[str]:
    """What in a repo would make transformers import code from it (or from another repo)."""
    found = sorted(n for n in names if n.endswith(".py"))
    found += ["auto_map in config.json"] if "auto_map" in config else []
    found += ["custom_pipelines in config.json"] if "custom_pipelines" in config else []
    found += ["auto_map in tokenizer_config.json"] if "auto_map" in (tokenizer_config or {}) else []
    return found


def check_files_are_safe(
    source: str, names: list[str], config: dict, settings: Settings, *, tokenizer_config: dict | None = None
) -> None:
    """Refuse custom code always, and pickle-only weights unless allowed, before reading any weight.

    This is the one place both rules are decided, for Hub repos and local folders alike. A repo
    listing a file whose name climbs out of its folder is refused too, before anything is written.
    """
    climbing = [n for n in names if n.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", n)]
    if climbing:
        raise UnsafeModelError(
            f"{source} lists a file named {climbing[0]!r}, which would be written outside the model's folder; "
            "the repository was refused.", hint="Report the repository to its owner; pick another model.")
    code = declared_code(names, config, tokenizer_config)
    if code:
        shown = ", ".join(code[:3])
        raise UnsafeModelError(
            f"{source} needs custom code to load ({shown}); this tool never runs code from model repositories.",
            hint="Pick a model built on an architecture that transformers ships (no setting allows code from a model repository).",
        )
    if has_safetensors(names):
        return
    if not any(n.endswith(PICKLE_SUFFIXES) for n in names):
        raise ModelLoadError(f"{source} has no weight files.", hint="Check that the repo or folder holds a model.")
    if not settings.allow_pickle:
        raise UnsafeModelError(
            f"{source} has only pickle weights (e.g. pytorch_model.bin); loading pickle files can run code.",
            hint=f"Use a model with .safetensors weights, or let an administrator set {setting_names.ALLOW_PICKLE}=1.",
        )


def weights_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def load_model(
    spec: ModelSpec,
    *,
    head: Head,
    device: str = "cpu",
    dtype: str = "float32",
    runtime: str = "torch",
    settings: Settings | None = None,
    files: ModelFiles | None = None,
) -> LoadedModel:
    """Fetch (unless `files` were fetched already), check and load a model on a device, in torch
    or (`runtime="onnxruntime"`) as an ONNX Runtime session."""
    settings = settings or get_settings()
    torch_device = check_device(device)
    check_dtype(dtype, torch_device)
    files = files or fetch_model(spec, settings=settings)
    if runtime == "onnxruntime":
        from core.runtimes import load_onnx_model

        return load_onnx_model(spec, files, head, torch_device, dtype, settings)
    started = time.perf_counter()
    model = read_model(files, spec, head, settings)
    tokenizer, notes = load_tokenizer(spec, files, settings)
    check_tokenizer_fits(tokenizer, model.config, spec.tokenizer or spec.source)
    max_length = resolve_max_length(spec, tokenizer, model.config)
    parameters = sum(p.numel() for p in model.parameters())
    model = place_model(model, torch_device, dtype)
    load_s = time.perf_counter() - started
    return LoadedModel(spec, files, model, tokenizer, str(torch_device), dtype, max_length, load_s, parameters, notes)


def config_overrides(spec: ModelSpec) -> dict:
    overrides: dict = {}
    if spec.id2label:
        id2label = {int(k): str(v) for k, v in spec.id2label.items()}
        overrides.update(id2label=id2label, label2id={v: k for k, v in id2label.items()}, num_labels=len(id2label))
    elif spec.num_labels:
        overrides["num_labels"] = spec.num_labels
    return overrides


def read_model(files: ModelFiles, spec: ModelSpec, head: Head, settings: Settings) -> torch.nn.Module:
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar per loaded model says nothing; our own progress does
    auto_class = auto_class_of(head)
    use_safetensors = None if settings.allow_pickle else True
    check_architecture_known(read_config(files.local_dir, spec.source), spec)
    try:
        config = AutoConfig.from_pretrained(files.local_dir, trust_remote_code=False, **config_overrides(spec))
        # weights_only: even an allowed pickle may hold tensors and nothing else (no code, no objects).
        model, loading_info = auto_class.from_pretrained(
            files.local_dir, config=config, trust_remote_code=False, use_safetensors=use_safetensors,
            weights_only=True, dtype=torch.float32, output_loading_info=True,
        )
    except pickle.UnpicklingError as error:
        raise UnsafeModelError(
            f"{spec.source}: its pickle weights hold more than tensors (loading them would run code), so they were not loaded.",
            hint="Use a model with .safetensors weights.",
        ) from error
    except SafetensorError as error:
        raise incomplete_weights_error(error, files) from error
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise explain_load_error(error, spec, head) from error
    check_nothing_untrained(model, loading_info.get("missing_keys") or [], spec, head)
    return model.eval()


def auto_class_of(head: Head):
    """The transformers Auto class that loads a model with `head`."""
    from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification, AutoModelForTokenClassification

    return {"classifier": AutoModelForSequenceClassification, "seq2seq": AutoModelForSeq2SeqLM,
            "token-classifier": AutoModelForTokenClassification}.get(head, AutoModel)


def read_classifier_for_training(loaded: LoadedModel, labels: list[str], multi_label: bool, *, seed: int) -> torch.nn.Module:
    """A classifier for the sample's labels on a loaded model's checkpoint, ready to fine-tune: the
    label maps set as fine-tuning needs them; a head of another size (or none) is initialised randomly
    from `seed`. The same safety as every load: no remote code, safetensors unless pickles are allowed."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    settings = get_settings()
    id2label = dict(enumerate(labels))
    config = AutoConfig.from_pretrained(
        loaded.files.local_dir, trust_remote_code=False, num_labels=len(labels), id2label=id2label,
        label2id={label: i for i, label in id2label.items()},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a new head is expected here: no "newly initialized" report in the log
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            loaded.files.local_dir, config=config, trust_remote_code=False, weights_only=True, dtype=torch.float32,
            use_safetensors=None if settings.allow_pickle else True, ignore_mismatched_sizes=True,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.to(loaded.device)


def incomplete_weights_error(error: Exception, files: ModelFiles) -> ModelLoadError:
    """A safetensors file cut short (an interrupted copy or download) or damaged, with the way to get it whole."""
    where = files.source if str(files.local_dir) == files.source else f"{files.source} (in {files.local_dir})"
    fix = ("Delete that model's folder in the Hugging Face cache and run it again: it downloads anew."
           if not files.is_local or files.sha else "Copy or save the model again.")
    return ModelLoadError(
        f"The weights of {where} are incomplete or damaged, so they cannot be read "
        f"({str(error).splitlines()[0][:160]}).",
        hint=fix,
    )


def check_nothing_untrained(model: torch.nn.Module, missing_keys, spec: ModelSpec, head: Head) -> None:
    """Refuse a model whose checkpoint lacks weights the evaluation uses: transformers would fill
    them with random values and the trial would score noise as if it were the model."""
    # The encoder kinds read the last hidden states; only a classifier uses the pooler.
    missing = sorted(k for k in missing_keys if head == "classifier" or ".pooler." not in f".{k}")
    if not missing:
        return
    prefix = f"{model.base_model_prefix}."
    head_keys = [k for k in missing if not k.startswith(prefix)]
    if head in ("classifier", "token-classifier") and head_keys and len(head_keys) == len(missing):
        what = "token-classification (NER)" if head == "token-classifier" else "classification"
        raise ModelLoadError(
            f"{spec.source} has no trained {what} head (its weights lack {', '.join(head_keys[:2])}), "
            "so its predictions would come from random weights.",
            hint="Name a model trained for token classification (NER) for --ner-model." if head == "token-classifier" else
                 "Evaluate it as embedding-probe (what auto picks for a model without a head), or fine-tune it first.",
        )
    raise ModelLoadError(
        f"{spec.source}: {len(missing)} of the model's weights are not in its checkpoint (e.g. {missing[0]}), "
        "so part of it would be random.",
        hint="Use a complete checkpoint of the model (re-download it, or save it again with save_pretrained).",
    )


def check_architecture_known(config: dict, spec: ModelSpec) -> None:
    """Refuse, before loading, a config whose `model_type` this transformers version has no class for."""
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    if model_type not in CONFIG_MAPPING:
        named = f"model_type {model_type!r}" if model_type else "no model_type in its config.json"
        raise ModelLoadError(
            f"{spec.source} uses an architecture this transformers version does not know ({named}).",
            hint="Pick a model on a standard architecture (BERT, RoBERTa, DeBERTa, DistilBERT, ...); "
                 "this tool never runs a model's own code.",
        )


def explain_load_error(error: Exception, spec: ModelSpec, head: Head) -> ModelLoadError:
    """Which load failed and why. transformers raises a plain RuntimeError for weights whose shapes
    differ from the config's; the only shapes this tool changes are the head's, by a label count."""
    if isinstance(error, RuntimeError) and head == "classifier" and config_overrides(spec):
        return ModelLoadError(
            f"{spec.source}: the classification head in the weights does not match the label count asked for.",
            hint="Give num_labels / id2label matching how the model was fine-tuned, or leave them unset.",
        )
    kind = {"classifier": "a sequence-classification head", "seq2seq": "a sequence-to-sequence (summarization) model",
            "token-classifier": "a token-classification (NER) model"}.get(head, "an encoder")
    first_line = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    return ModelLoadError(f"{spec.source} could not be loaded as {kind}: {first_line}")


def load_tokenizer(spec: ModelSpec, files: ModelFiles, settings: Settings) -> tuple[object, list[str]]:
    """The model's own tokenizer, or the one `spec.tokenizer` names (fetched like a model)."""
    location: str | Path = files.local_dir
    if spec.tokenizer:
        location = fetch_model(ModelSpec(spec.tokenizer), settings=settings).local_dir if not is_local_source(spec.tokenizer) else spec.tokenizer
    return read_tokenizer(location, spec.tokenizer or spec.source)


def release(loaded: LoadedModel | None) -> None:
    """Free a model's memory before the next one loads."""
    if loaded is not None:
        loaded.model = None  # type: ignore[assignment]
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
