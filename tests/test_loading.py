"""Loading models from folders: overrides, tokenizer checks, safety refusals, devices and dtypes."""

import json
import shutil

import pytest
import torch
from transformers import BertTokenizer

from core.devices import check_device, detect_devices
from core.errors import DeviceError, ModelLoadError, UnsafeModelError
from core.loading import ModelSpec, fetch_model, load_model, release
from core.settings import Settings
from tests import tiny_models


@pytest.fixture
def copy_of(tmp_path):
    def make(folder):
        target = tmp_path / folder.name
        shutil.copytree(folder, target)
        return target

    return make


def test_loads_local_classifier_with_facts(untrained_classifier):
    loaded = load_model(ModelSpec(str(untrained_classifier)), head="classifier")
    assert loaded.files.is_local and loaded.sha is None
    assert loaded.config.id2label == {0: "NEGATIVE", 1: "POSITIVE", 2: "neutral"}
    assert loaded.max_length == tiny_models.MAX_POSITIONS
    assert loaded.parameters == sum(p.numel() for p in loaded.model.parameters())
    assert loaded.files.size_bytes == (untrained_classifier / "model.safetensors").stat().st_size
    assert not loaded.model.training


def test_id2label_override_renames_labels(untrained_classifier):
    spec = ModelSpec(str(untrained_classifier), id2label={0: "bad", 1: "good", 2: "meh"})
    loaded = load_model(spec, head="classifier")
    assert loaded.config.id2label == {0: "bad", 1: "good", 2: "meh"} and loaded.config.label2id["good"] == 1


def test_num_labels_that_do_not_fit_the_head_is_a_clear_error(untrained_classifier):
    with pytest.raises(ModelLoadError, match="classification head in the weights does not match"):
        load_model(ModelSpec(str(untrained_classifier), num_labels=7), head="classifier")


def test_max_length_can_lower_but_not_raise(untrained_classifier):
    assert load_model(ModelSpec(str(untrained_classifier), max_length=16), head="classifier").max_length == 16
    with pytest.raises(ModelLoadError, match="at most 64"):
        load_model(ModelSpec(str(untrained_classifier), max_length=512), head="classifier")


def test_tokenizer_with_more_tokens_than_embeddings_is_refused(untrained_classifier, tmp_path):
    words = [f"word{i}" for i in range(200)]
    BertTokenizer(vocab=tiny_models.build_vocab([" ".join(words)])).save_pretrained(tmp_path / "big-tokenizer")
    spec = ModelSpec(str(untrained_classifier), tokenizer=str(tmp_path / "big-tokenizer"))
    with pytest.raises(ModelLoadError, match=r"has 205 tokens but the model only has \d+ embeddings"):
        load_model(spec, head="classifier")


def test_tokenizer_without_pad_or_eos_is_refused(untrained_classifier, copy_of):
    folder = copy_of(untrained_classifier)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["pad_token"] = None
    config_path.write_text(json.dumps(config))
    tokenizer_json = folder / "tokenizer.json"
    data = json.loads(tokenizer_json.read_text())
    data["padding"] = None
    tokenizer_json.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="no padding token and no end-of-sequence token"):
        load_model(ModelSpec(str(folder)), head="classifier")


def test_pickle_only_folder_is_refused_unless_allowed(untrained_classifier, copy_of):
    folder = copy_of(untrained_classifier)
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UnsafeModelError) as error:
        fetch_model(ModelSpec(str(folder)), settings=Settings())
    assert "only pickle weights" in error.value.sentence and "MSD_ALLOW_PICKLE=1" in error.value.sentence
    loaded = load_model(ModelSpec(str(folder)), head="classifier", settings=Settings(allow_pickle=True))
    assert loaded.parameters > 0


@pytest.mark.parametrize("how", ["auto_map", "python_file"])
def test_custom_code_is_refused_without_running_it(untrained_classifier, copy_of, tmp_path, how):
    folder = copy_of(untrained_classifier)
    canary = tmp_path / "canary"
    (folder / "modeling_evil.py").write_text(f"open({str(canary)!r}, 'w').write('ran')\n")
    if how == "auto_map":
        (folder / "modeling_evil.py").rename(folder / "evil.txt")
        config = json.loads((folder / "config.json").read_text())
        config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsafeModelError, match="needs custom code"):
        load_model(ModelSpec(str(folder)), head="classifier")
    assert not canary.exists()


def test_folder_without_config_is_not_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        fetch_model(ModelSpec(str(tmp_path / "empty")))


def test_devices_are_detected_and_unknown_ones_refused():
    names = [d.name for d in detect_devices()]
    assert names[0] == "cpu"
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="not a device name"):
        check_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="'cuda:3' is not available on this machine. Available: cpu"):
            check_device("cuda:3")


def test_int8_is_cpu_only_and_unknown_dtypes_refused(untrained_classifier):
    with pytest.raises(DeviceError, match="Unknown dtype 'float8'"):
        load_model(ModelSpec(str(untrained_classifier)), head="classifier", dtype="float8")
    if torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CPU only"):
            load_model(ModelSpec(str(untrained_classifier)), head="classifier", device="cuda", dtype="int8")


@pytest.mark.parametrize("dtype, expected", [("bfloat16", torch.bfloat16), ("float16", torch.float16), ("float32", torch.float32)])
def test_dtypes_are_applied(untrained_classifier, dtype, expected):
    loaded = load_model(ModelSpec(str(untrained_classifier)), head="classifier", dtype=dtype)
    assert next(loaded.model.parameters()).dtype == expected


def test_int8_quantizes_linear_layers(untrained_classifier):
    loaded = load_model(ModelSpec(str(untrained_classifier)), head="classifier", dtype="int8")
    linear_modules = {type(m).__module__ for m in loaded.model.modules() if type(m).__name__ == "Linear"}
    assert linear_modules == {"torch.ao.nn.quantized.dynamic.modules.linear"}
    release(loaded)
    assert loaded.model is None


def test_an_architecture_transformers_does_not_know_is_named_before_loading(untrained_classifier, tmp_path):
    folder = shutil.copytree(untrained_classifier, tmp_path / "unknown-arch")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "acme-secret-net"}))
    with pytest.raises(ModelLoadError) as error:
        load_model(ModelSpec(str(folder)), head="classifier")
    assert error.value.sentence.startswith(f"{folder} uses an architecture this transformers version does not know "
                                           "(model_type 'acme-secret-net').")
