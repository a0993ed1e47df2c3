"""The fake Hub speaks the Hub's protocol: checked with the real huggingface_hub client.

These use small in-memory repos (no torch): the routes, headers, pagination and error codes
huggingface_hub relies on. The hub tests in test_hub.py then build on it with real models.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub import errors as hub_errors

from tests.fakehub import FakeFile, FakeHub, FakeRepo, catalog_from_models_dir, fill_guessed_metadata

ROOT = Path(__file__).resolve().parents[1]


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A valid safetensors file of zeros (4-byte dtypes)."""
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + b"\0" * offset


def make_repo(repo_id: str, *, weights: bytes | None = None, **meta) -> FakeRepo:
    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "id2label": {"0": "a", "1": "b"}}
    files = {"config.json": json.dumps(config).encode(), "README.md": b"---\nlicense: mit\n---\n# Card\n"}
    files["model.safetensors"] = weights if weights is not None else safetensors_bytes({"w": ("F32", [10, 10])})
    repo = FakeRepo(repo_id=repo_id, files={p: FakeFile(p, data) for p, data in files.items()}, **meta)
    fill_guessed_metadata(repo, [])
    return repo


pytestmark = pytest.mark.usefixtures("only_localhost")


@pytest.fixture(scope="module")
def fake():
    repos = {f"org/model-{i}": make_repo(f"org/model-{i}", downloads=100 * i, likes=10 - i) for i in range(5)}
    repos["org/gated"] = make_repo("org/gated", gated="auto")
    big = safetensors_bytes({"w": ("F32", [300, 300])})
    repos["org/big"] = make_repo("org/big", weights=big)
    with FakeHub(repos, page_size=2, granted_tokens=("hf_fakehubgrantedtoken",)) as hub:
        yield hub


@pytest.fixture
def api(fake, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    fake.clear()
    return HfApi(endpoint=fake.url, token=False)


def test_listing_is_paginated_with_link_headers_and_sorted(api, fake):
    models = list(api.list_models(sort="downloads", expand=["downloads", "likes", "safetensors"]))
    assert [m.id for m in models][:5] == [f"org/model-{i}" for i in (4, 3, 2, 1, 0)]
    assert models[0].downloads == 400 and models[0].likes == 6 and models[0].safetensors.total == 100
    assert len(fake.paths()) == 4  # 7 repos, 2 per page
    assert "cursor" in fake.requests[1].query


def test_limit_stops_paging_early(api, fake):
    assert len(list(api.list_models(limit=3))) == 3
    assert len(fake.paths()) == 2


def test_expand_returns_only_the_asked_fields(api, fake):
    (model,) = api.list_models(search="model-4", expand=["likes"])
    assert model.likes == 6 and model.downloads is None and model.tags is None


def test_model_info_lists_files_with_sizes(api, fake):
    info = api.model_info("org/big", files_metadata=True)
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes["model.safetensors"] == fake.repos["org/big"].files["model.safetensors"].size
    assert info.sha == fake.repos["org/big"].sha and info.card_data.license == "mit"
    assert api.model_info("org/big", revision=info.sha).sha == info.sha


def test_tree_lists_files_with_lfs_info(api, fake):
    files = {f.path: f for f in api.list_repo_tree("org/big", recursive=True)}
    weights = fake.repos["org/big"].files["model.safetensors"]
    assert files["model.safetensors"].lfs.sha256 == weights.sha256
    assert files["config.json"].lfs is None


def test_resolve_sends_commit_and_etag_headers_and_honours_ranges(fake):
    import httpx2

    repo = fake.repos["org/big"]
    url = f"{fake.url}/org/big/resolve/main/model.safetensors"
    head = httpx2.head(url)
    assert head.headers["X-Repo-Commit"] == repo.sha
    assert head.headers["ETag"] == f'"{repo.files["model.safetensors"].sha256}"'
    part = httpx2.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == repo.files["model.safetensors"].data[10:20]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda api, cache: api.model_info("org/missing"), hub_errors.RepositoryNotFoundError),
        (lambda api, cache: api.model_info("org/big", revision="nope"), hub_errors.RevisionNotFoundError),
        (lambda api, cache: api.hf_hub_download("org/big", "nope.txt", cache_dir=cache), hub_errors.RemoteEntryNotFoundError),
        (lambda api, cache: api.hf_hub_download("org/gated", "config.json", cache_dir=cache), hub_errors.GatedRepoError),
    ],
    ids=["RepoNotFound", "RevisionNotFound", "EntryNotFound", "GatedRepo"],
)
def test_errors_carry_the_hub_error_codes(api, tmp_path, call, error):
    with pytest.raises(error):
        call(api, tmp_path)


def test_gated_files_need_a_granted_token_but_the_card_does_not(fake, api, tmp_path):
    card = hf_hub_download("org/gated", "README.md", endpoint=fake.url, cache_dir=tmp_path, token=False)
    assert "Card" in Path(card).read_text()
    config = hf_hub_download("org/gated", "config.json", endpoint=fake.url, cache_dir=tmp_path, token="hf_fakehubgrantedtoken")
    assert json.loads(Path(config).read_text())["model_type"] == "bert"


def test_a_body_cut_short_is_resumed_with_a_range_request(fake, api, tmp_path):
    fake.add_fault("cut_short", match="org/big/resolve/main/model.safetensors", times=1)
    path = hf_hub_download("org/big", "model.safetensors", endpoint=fake.url, cache_dir=tmp_path, token=False)
    expected = fake.repos["org/big"].files["model.safetensors"].sha256
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == expected
    assert len([p for p in fake.paths() if p.endswith("model.safetensors")]) == 2


def test_scripted_429_carries_retry_after(fake):
    import httpx2

    fake.clear()
    fake.add_fault("rate_limit", match="/api/models", times=1, retry_after_s=7)
    answer = httpx2.get(f"{fake.url}/api/models")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert httpx2.get(f"{fake.url}/api/models").status_code == 200


def test_catalog_from_a_models_dir_uses_folder_names_and_hub_meta(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    (folder / "hub_meta.json").write_text(json.dumps({"downloads": 1234, "likes": 5}))
    (tmp_path / "not-a-model").mkdir()
    repos = catalog_from_models_dir(tmp_path)
    assert list(repos) == ["demo/tiny"]
    assert repos["demo/tiny"].downloads == 1234 and repos["demo/tiny"].pipeline_tag == "feature-extraction"


def test_started_by_hand_it_refuses_a_folder_without_models(tmp_path):
    command = [sys.executable, "-m", "tests.fakehub", "--models-dir", str(tmp_path), "--port", "0"]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2 and "no subfolder" in finished.stderr
