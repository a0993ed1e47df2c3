"""Finding candidates (core.hub, `python -m core discover`) against the fake Hub on 127.0.0.1.

Everything goes through the real huggingface_hub client over HTTP. The endpoint, cache and
token come from the environment at call time, so each test sets them with monkeypatch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import re
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download

from core import hub
from core import settings as names
from core.commands import discover
from core.errors import GatedRepoError, HubUnreachableError, InputError, RateLimitedError, RepoNotFoundError
from core.settings import get_settings
from tests.fakehub import SORT_KEYS, FakeHub, repo_from_folder
from tests.hub_fixtures import NLI_LABELS, TICKET_LABELS, build_catalog_folders

ROOT = Path(__file__).resolve().parents[1]
CANARY = "hf_CanaryToken0123456789abcdefXYZ"
TEXT_CLASSIFIERS = ["acme/ticket-classifier", "acme/gated-classifier", "eve/pickle-classifier", "eve/custom-classifier"]
HUB_SORT_NAMES = {"downloads": "downloads", "likes": "likes", "trending": "trendingScore", "updated": "lastModified", "created": "createdAt"}


pytestmark = pytest.mark.usefixtures("only_localhost")


@pytest.fixture(scope="session")
def catalog_folders(tmp_path_factory) -> dict[str, Path]:
    return build_catalog_folders(tmp_path_factory.mktemp("hub-catalog"))


@pytest.fixture(scope="session")
def fake_hub(catalog_folders):
    repos = {repo_id: repo_from_folder(folder, repo_id) for repo_id, folder in catalog_folders.items()}
    with FakeHub(repos, granted_tokens=(CANARY,)) as server:
        yield server


@pytest.fixture
def hub_env(fake_hub, monkeypatch, tmp_path):
    """The fake Hub as HF_ENDPOINT, a fresh HF_HOME, no token, short timeouts, empty caches."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                 names.MODEL_DIRS, names.ALLOW_PICKLE, names.HUB_CACHE_TTL_S):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv(names.HUB_TIMEOUT_S, "3")
    monkeypatch.setenv(names.HUB_RETRY_BUDGET_S, "1.5")
    fake_hub.clear()
    fake_hub.page_size = 1000
    hub.clear_search_cache()
    yield fake_hub
    fake_hub.clear()
    hub.clear_search_cache()


def by_id(result: hub.SearchResult) -> dict[str, hub.ModelCandidate]:
    return {c.id: c for c in result.candidates}


# --------------------------------------------------------------------------- search


def test_search_by_task_parses_the_expanded_metadata(hub_env, catalog_folders):
    result = hub.search("text-classification", include_local=False)
    assert result.hub_reached and not result.notice
    assert [c.id for c in result.candidates] == TEXT_CLASSIFIERS  # by downloads; private repo hidden
    ticket = result.candidates[0]
    repo = hub_env.repos["acme/ticket-classifier"]
    assert (ticket.downloads, ticket.likes, ticket.trending, ticket.downloads_all_time) == (52_000, 130, 40, 624_000)
    assert ticket.parameters == repo.parameters == hub.folder_parameters(catalog_folders[ticket.id])
    assert (ticket.license, ticket.languages, ticket.base_models) == ("apache-2.0", ("en",), ("bert-base-uncased",))
    assert ticket.sha == repo.sha and ticket.author == "acme" and ticket.last_modified.tzinfo is not None
    assert ticket.has_safetensors and not ticket.needs_custom_code and not ticket.gated and ticket.has_card
    assert ticket.kinds == ("text-classification", "embedding-probe") and ticket.origin == "hub"
    sent = hub_env.requests[-1].query
    assert sent["expand"] == hub.EXPAND and sent["pipeline_tag"] == ["text-classification"]
    assert sent["limit"] == ["20"] and sent["filter"] == ["transformers"] and sent["sort"] == ["downloads"]


def test_unknown_values_stay_unknown(hub_env):
    pickle_only = by_id(hub.search("text-classification", include_local=False))["eve/pickle-classifier"]
    assert pickle_only.parameters is None and pickle_only.has_safetensors is False
    encoder = hub.search("feature-extraction", include_local=False).candidates[0]
    assert encoder.id == "bob/small-encoder" and encoder.license is None and not encoder.has_card
    assert encoder.kinds == ("embedding-probe",) and encoder.labels is None


@pytest.mark.parametrize("sort", list(hub.SORTS))
def test_sorting(hub_env, sort):
    result = hub.search("text-classification", sort=sort, include_local=False)
    key = SORT_KEYS[HUB_SORT_NAMES[sort]]
    expected = sorted((hub_env.repos[i] for i in TEXT_CLASSIFIERS), key=key, reverse=True)
    assert [c.id for c in result.candidates] == [r.repo_id for r in expected]


@pytest.mark.parametrize(
    ("task", "filters", "expected"),
    [
        ("zero-shot-classification", {}, ["acme/tiny-nli"]),
        ("text-classification", {"search": "CUSTOM"}, ["eve/custom-classifier"]),
        ("text-classification", {"author": "eve"}, ["eve/pickle-classifier", "eve/custom-classifier"]),
        ("zero-shot-classification", {"license": "mit", "language": "en"}, ["acme/tiny-nli"]),
        ("text-classification", {"license": "mit"}, []),
        ("text-classification", {"include_gated": False}, ["acme/ticket-classifier", "eve/pickle-classifier", "eve/custom-classifier"]),
        ("text-classification", {"min_parameters": 10_000}, ["acme/ticket-classifier", "acme/gated-classifier", "eve/custom-classifier"]),
        ("text-classification", {"max_parameters": 1_000}, []),
        ("text-classification", {"tags": ("text-classification-demo",)}, ["acme/ticket-classifier"]),
        ("feature-extraction", {"library": "sentence-transformers"}, []),
    ],
)
def test_filters(hub_env, task, filters, expected):
    result = hub.search(task, include_local=False, **filters)
    assert result.hub_reached and [c.id for c in result.candidates] == expected


def test_filters_reach_the_hub_in_its_syntax(hub_env):
    hub.search("text-classification", license="mit", language="en", min_parameters=10_000, max_parameters=2_000_000_000,
               include_gated=False, include_local=False)
    sent = hub_env.requests[-1].query
    assert sent["filter"] == ["transformers", "en", "license:mit"]
    assert sent["num_parameters"] == ["min:10K,max:2B"] and sent["gated"] == ["false"]


def test_pagination_follows_link_headers_and_stops_at_the_limit(hub_env):
    hub_env.page_size = 1
    result = hub.search("text-classification", limit=3, include_local=False)
    assert [c.id for c in result.candidates] == TEXT_CLASSIFIERS[:3]
    assert len(hub_env.paths()) == 3 and hub_env.requests[-1].query["cursor"] == ["2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"task": "fill-mask"}, "unknown task 'fill-mask'"), ({"sort": "stars"}, "unknown sort 'stars'"),
     ({"limit": 0}, "limit 0 is out of range"), ({"min_parameters": 5, "max_parameters": 1}, "parameter range 5..1")],
)
def test_bad_queries_say_what_is_valid(hub_env, kwargs, message):
    arguments = {"task": "text-classification", **kwargs}
    with pytest.raises(InputError, match=message):
        hub.search(arguments.pop("task"), **arguments)


def test_identical_searches_are_served_from_the_cache(hub_env, monkeypatch):
    first = hub.search("text-classification", include_local=False)
    second = hub.search("text-classification", include_local=False)
    assert not first.from_cache and second.from_cache and second.candidates == first.candidates
    assert len(hub_env.paths()) == 1
    hub.search("text-classification", sort="likes", include_local=False)
    assert len(hub_env.paths()) == 2
    monkeypatch.setenv(names.HUB_CACHE_TTL_S, "0")
    assert not hub.search("text-classification", include_local=False).from_cache


# --------------------------------------------------------------------------- kinds and checklist


@pytest.mark.parametrize(
    ("tag", "config", "kinds"),
    [
        ("text-classification", None, ["text-classification", "embedding-probe"]),
        ("text-classification", {"label2id": {"ENTAILMENT": 0, "neutral": 1}}, ["zero-shot-classification", "embedding-probe"]),
        ("zero-shot-classification", None, ["zero-shot-classification", "embedding-probe"]),
        (None, {"architectures": ["BertForSequenceClassification"], "id2label": {"0": "a"}}, ["text-classification", "embedding-probe"]),
        ("feature-extraction", None, ["embedding-probe"]),
        ("sentence-similarity", None, ["embedding-probe"]),
        ("fill-mask", None, ["embedding-probe"]),
        (None, {"architectures": ["BertModel"]}, ["embedding-probe"]),
        ("text-generation", None, []),
        (None, None, []),
    ],
)
def test_kinds_for(tag, config, kinds):
    assert hub.kinds_for(tag, config) == kinds


def test_readiness_checklist_flags_each_problem_with_its_reason(hub_env, monkeypatch):
    found = by_id(hub.search("text-classification", include_local=False))
    found |= by_id(hub.search("feature-extraction", include_local=False))
    assert found["acme/ticket-classifier"].failed_checks == ()
    assert found["bob/small-encoder"].failed_checks == ("popular", "documented", "maintained", "licensed")
    assert "pickle weights only" in found["eve/pickle-classifier"].check("safe_to_load").reason
    assert "custom code" in found["eve/custom-classifier"].check("safe_to_load").reason
    assert found["eve/custom-classifier"].needs_custom_code
    gated = found["acme/gated-classifier"].check("accessible")
    assert not gated.ok and "HF_TOKEN" in gated.reason
    ranked = hub.rank(found.values())
    assert ranked[0].id == "acme/ticket-classifier" and ranked[-1].id == "bob/small-encoder"
    safe = hub.passing(found.values(), required=["safe_to_load", "accessible"])
    assert [c.id for c in safe] == ["acme/ticket-classifier", "bob/small-encoder"]
    with pytest.raises(InputError, match="unknown check 'popularity'.*popular, documented"):
        hub.passing(found.values(), required=["popularity"])
    monkeypatch.setenv("HF_TOKEN", CANARY)
    assert hub.with_checks(found["acme/gated-classifier"], get_settings()).check("accessible").ok
    monkeypatch.setenv(names.ALLOW_PICKLE, "1")
    assert hub.with_checks(found["eve/pickle-classifier"], get_settings()).check("safe_to_load").ok


# --------------------------------------------------------------------------- details


def test_details_give_sizes_labels_and_card_before_any_weights_are_downloaded(hub_env, catalog_folders):
    details = hub.model_details("acme/tiny-nli")
    folder = catalog_folders["acme/tiny-nli"]
    sizes = {f.path: f.size_bytes for f in details.files}
    assert sizes == {p.name: p.stat().st_size for p in folder.iterdir() if p.name != "hub_meta.json"}
    assert details.download_bytes == details.total_bytes - sizes["README.md"]
    assert details.candidate.labels == tuple(NLI_LABELS)
    assert details.candidate.kinds == ("zero-shot-classification", "embedding-probe")
    assert details.card_text.startswith("# Model card") and "license:" not in details.card_text
    assert details.candidate.card_chars == len(details.card_text) and details.candidate.check("documented").ok
    downloaded = {p.name for p in Path(os.environ["HF_HOME"]).rglob("*") if p.is_file()}
    assert "model.safetensors" not in downloaded and "config.json" in downloaded


def test_details_of_a_gated_repo_need_a_token_for_the_labels(hub_env, monkeypatch):
    details = hub.model_details("acme/gated-classifier")
    assert details.candidate.labels is None and details.card_text
    assert any("config.json could not be read" in note and "gated" in note for note in details.notes)
    monkeypatch.setenv("HF_TOKEN", CANARY)
    assert hub.model_details("acme/gated-classifier").candidate.labels == tuple(TICKET_LABELS)


def test_details_of_pickle_and_custom_code_repos(hub_env, monkeypatch):
    pickle_only = hub.model_details("eve/pickle-classifier")
    sizes = {f.path: f.size_bytes for f in pickle_only.files}
    assert pickle_only.download_bytes == sizes["config.json"] + sizes["tokenizer.json"] + sizes["tokenizer_config.json"]
    assert not pickle_only.candidate.check("safe_to_load").ok
    monkeypatch.setenv(names.ALLOW_PICKLE, "1")
    assert hub.model_details("eve/pickle-classifier").download_bytes == pickle_only.download_bytes + sizes["pytorch_model.bin"]
    custom = hub.model_details("eve/custom-classifier")
    assert "auto_map" in custom.config and custom.candidate.needs_custom_code
    assert "modeling_custom.py" in {f.path for f in custom.files}


@pytest.mark.parametrize("repo_id", ["acme/no-such-model", "acme/secret-classifier"])
def test_missing_and_private_repos_are_clear_messages(hub_env, repo_id):
    with pytest.raises(RepoNotFoundError, match=f"{repo_id} was not found.*does not exist, or it is private"):
        hub.model_details(repo_id)


def test_gated_error_class_is_checked_before_not_found(hub_env):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_env.url)
    with pytest.raises(GatedRepoError, match="gated"):
        hub.call_hub(lambda: api.hf_hub_download("acme/gated-classifier", "config.json",
                                                 cache_dir=get_settings().hf_hub_cache),
                     settings=get_settings(), what="acme/gated-classifier")


# --------------------------------------------------------------------------- faults


def test_huggingface_hub_still_has_the_client_factory_our_hooks_wrap():
    """core.hub.http.install_hooks reads huggingface_hub's private `_http._GLOBAL_CLIENT_FACTORY`
    (no public getter exists); when an upgrade renames or drops it, this fails before users notice."""
    from huggingface_hub.utils import _http

    from core.hub import http as hub_http

    assert hasattr(_http, "_GLOBAL_CLIENT_FACTORY"), (
        "huggingface_hub.utils._http._GLOBAL_CLIENT_FACTORY is gone: update core.hub.http.install_hooks")
    hub_http.install_hooks()
    client = _http._GLOBAL_CLIENT_FACTORY()
    try:
        assert hub_http._on_request in client.event_hooks["request"]
        assert hub_http._on_response in client.event_hooks["response"]
    finally:
        client.close()


def test_429_is_retried_after_retry_after(hub_env):
    hub_env.add_fault("rate_limit", match="/api/models", times=2, retry_after_s=0)
    result = hub.search("text-classification", include_local=False)
    assert result.hub_reached and len(result.candidates) == 4 and len(hub_env.paths()) == 3


def test_429_past_the_retry_budget_is_reported(hub_env):
    hub_env.add_fault("rate_limit", match="/api/", times=None, retry_after_s=1)
    started = time.monotonic()
    result = hub.search("text-classification", include_local=False)
    assert not result.hub_reached and "kept rate limiting the model search" in result.notice
    assert time.monotonic() - started < 1.5 + 1
    with pytest.raises(RateLimitedError, match="Wait 1 s and try again"):
        hub.model_details("acme/ticket-classifier")


@pytest.mark.parametrize("wait_header", ["ratelimit", "date"])
def test_a_429_says_how_long_to_wait_in_the_hubs_ratelimit_header_or_an_http_date(hub_env, monkeypatch, wait_header):
    """Audit item 14: only a Retry-After in seconds was read; the Hub's RateLimit header was ignored."""
    monkeypatch.setenv(names.HUB_RETRY_BUDGET_S, "1")
    hub_env.add_fault("rate_limit", match="/api/", times=None, retry_after_s=30, wait_header=wait_header)
    with pytest.raises(RateLimitedError) as error:
        hub.model_details("acme/ticket-classifier")
    waited = float(re.search(r"Wait ([0-9.]+) s and try again", error.value.sentence).group(1))
    assert 28 <= waited <= 30, error.value.sentence
    assert len(hub_env.paths()) == 1, "a wait longer than the budget is not waited for"


def test_a_rate_limited_search_shows_the_last_good_results_and_their_age(hub_env, monkeypatch):
    """Audit item 14: once the cache had expired, a rate-limited search showed 0 candidates."""
    monkeypatch.setenv(names.HUB_CACHE_TTL_S, "0")  # every cached search has expired at once
    monkeypatch.setenv(names.HUB_RETRY_BUDGET_S, "0.5")
    good = hub.search("text-classification", include_local=False)
    assert good.hub_reached and len(good.candidates) == 4
    hub_env.add_fault("rate_limit", match="/api/models", times=None, retry_after_s=1)
    stale = hub.search("text-classification", include_local=False)
    assert [c.id for c in stale.candidates] == [c.id for c in good.candidates]
    assert stale.stale_age_s is not None and 0 <= stale.stale_age_s < 60
    assert re.fullmatch(r"The Hub kept rate limiting the model search for 0.5 s; showing the results of the same "
                        r"search from \d+ s ago, which may be out of date.", stale.notice), stale.notice
    other = hub.search("zero-shot-classification", include_local=False)  # never answered: nothing to show
    assert other.candidates == () and other.stale_age_s is None and "kept rate limiting" in other.notice


def test_a_slow_hub_is_abandoned_at_the_timeout(hub_env, monkeypatch):
    monkeypatch.setenv(names.HUB_TIMEOUT_S, "1")
    hub_env.add_fault("slow", match="/api/models", times=1, delay_s=3)
    started = time.monotonic()
    result = hub.search("text-classification", include_local=False)
    assert time.monotonic() - started < 1.5
    assert not result.hub_reached and "no answer within 1 s" in result.notice


def test_a_server_error_is_reported_not_retried_for_long(hub_env):
    hub_env.add_fault("status", match="/api/models", times=None, status=503)
    result = hub.search("text-classification", include_local=False)
    assert not result.hub_reached and "(it answered HTTP 503)" in result.notice and len(hub_env.paths()) == 1


def test_a_search_answer_cut_short_once_is_retried(hub_env):
    hub_env.add_fault("cut_short", match="/api/models", times=1)
    result = hub.search("text-classification", include_local=False)
    assert result.hub_reached and len(result.candidates) == 4 and len(hub_env.paths()) == 2


def test_a_card_cut_short_is_resumed_and_complete(hub_env, catalog_folders):
    hub_env.add_fault("cut_short", match="/README.md", times=1)
    details = hub.model_details("acme/ticket-classifier")
    card = (catalog_folders["acme/ticket-classifier"] / "README.md").read_text()
    assert details.card_text == hub.strip_front_matter(card) and not details.notes


def test_model_info_cut_short_every_time_is_a_clear_message(hub_env):
    hub_env.add_fault("cut_short", match="/api/models/acme/ticket-classifier", times=None)
    with pytest.raises(HubUnreachableError, match="answer was cut short"):
        hub.model_details("acme/ticket-classifier")


# --------------------------------------------------------------------------- local sources and offline


def cache_model(repo_id: str) -> None:
    """Download a model's config and weights into the HF cache of the current settings."""
    for filename in ("config.json", "model.safetensors"):
        hf_hub_download(repo_id, filename, endpoint=os.environ["HF_ENDPOINT"], cache_dir=get_settings().hf_hub_cache)


def test_local_cache_and_model_folders_are_candidates(hub_env, catalog_folders, monkeypatch):
    cache_model("acme/tiny-nli")
    monkeypatch.setenv(names.MODEL_DIRS, os.pathsep.join([str(catalog_folders["bob/small-encoder"].parent), "/nowhere"]))
    local = {c.id: c for c in hub.list_local()}
    cached = local["acme/tiny-nli"]
    assert cached.origin == "cache" and cached.labels == tuple(NLI_LABELS) and cached.sha == hub_env.repos["acme/tiny-nli"].sha
    folder = local["ticket-classifier"]
    assert folder.origin == "folder" and folder.source == str(catalog_folders["acme/ticket-classifier"].resolve())
    assert folder.labels == tuple(TICKET_LABELS) and folder.parameters == hub_env.repos["acme/ticket-classifier"].parameters
    assert folder.license == "apache-2.0" and folder.card_chars > 300 and folder.downloads is None
    assert local["small-encoder"].kinds == ("embedding-probe",) and local["small-encoder"].task == "feature-extraction"
    assert local["custom-classifier"].needs_custom_code and local["pickle-classifier"].has_safetensors is False


def test_search_adds_local_candidates_that_fit_the_task(hub_env, catalog_folders, monkeypatch):
    monkeypatch.setenv(names.MODEL_DIRS, str(catalog_folders["acme/tiny-nli"]))
    result = hub.search("zero-shot-classification")
    assert [(c.id, c.origin) for c in result.candidates] == [("acme/tiny-nli", "hub"), ("tiny-nli", "folder")]
    assert [c.id for c in hub.search("text-classification").candidates] == TEXT_CLASSIFIERS


def test_hub_stopped_falls_back_to_local_models_within_the_timeout(hub_env, catalog_folders, monkeypatch):
    cache_model("acme/ticket-classifier")
    stopped = FakeHub({}).start()
    stopped.stop()
    monkeypatch.setenv("HF_ENDPOINT", stopped.url)
    monkeypatch.setenv(names.MODEL_DIRS, str(catalog_folders["eve/custom-classifier"].parent))
    started = time.monotonic()
    result = hub.search("text-classification")
    assert time.monotonic() - started < 3
    assert not result.hub_reached and result.notice.startswith(f"The Hub at {stopped.url} could not be reached")
    assert "showing 6 local models instead" in result.notice
    assert {c.origin for c in result.candidates} == {"cache", "folder"}
    assert "acme/ticket-classifier" in by_id(result) and "small-encoder" not in by_id(result)
    assert not hub.search("text-classification").from_cache  # failures are not cached


def test_offline_mode_does_not_ask_the_hub(hub_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = hub.search("text-classification")
    assert not result.hub_reached and "HF_HUB_OFFLINE is set" in result.notice and hub_env.paths() == []


# --------------------------------------------------------------------------- command line


def run_discover(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    discover.configure(parser)
    return discover.run(parser.parse_args(list(argv)))


def test_discover_prints_a_table_with_signals_and_flags(hub_env, capsys):
    assert run_discover("--task", "text-classification", "--no-local") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == list(discover.COLUMNS)
    repo = hub_env.repos["acme/ticket-classifier"]
    assert lines[1].split() == ["acme/ticket-classifier", "hub", "classify,probe", "52,000", "130",
                                f"{repo.parameters / 1000:.1f}K", repo.last_modified[:10], "PDMSLA"]
    assert lines[4].split()[-1] == "PDM-LA" and lines[-1] == discover.LEGEND


def test_discover_json_has_one_object_per_candidate(hub_env, capsys):
    assert run_discover("--task", "zero-shot-classification", "--sort", "likes", "--limit", "5", "--json", "--no-local") == 0
    (candidate,) = json.loads(capsys.readouterr().out)
    assert candidate["id"] == "acme/tiny-nli" and candidate["likes"] == 45 and candidate["parameters"] > 0
    assert set(candidate["checks"]) == set(hub.CHECK_NAMES) and candidate["checks"]["licensed"]["reason"] == "license: mit"


def test_python_m_core_discover_against_a_fake_hub_started_by_hand(catalog_folders, tmp_path):
    env = clean_env(tmp_path)
    server = subprocess.Popen([sys.executable, "-m", "tests.fakehub", "--models-dir", str(catalog_folders["acme/tiny-nli"].parent),
                               "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split(" at ")[1].split(":", 2)
        env["HF_ENDPOINT"] = ":".join(url[:2]) + ":" + url[2].split(":")[0]
        finished = subprocess.run([sys.executable, "-m", "core", "discover", "--task", "text-classification"],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert finished.returncode == 0, finished.stderr
    assert "demo/ticket-classifier  hub" in finished.stdout and "52,000" in finished.stdout
    assert finished.stderr == ""


# --------------------------------------------------------------------------- the token


def test_a_canary_token_appears_in_no_output_log_or_file(hub_env, monkeypatch, capfd, caplog, tmp_path):
    monkeypatch.setenv("HF_TOKEN", CANARY)
    monkeypatch.setenv(names.HUB_RETRY_BUDGET_S, "0")
    caplog.set_level(logging.DEBUG)
    hub_logger = logging.getLogger("huggingface_hub")
    monkeypatch.setattr(hub_logger, "level", logging.DEBUG)
    monkeypatch.setattr(hub_logger, "propagate", True)
    seen = [hub.search(task) for task in hub.TASKS]
    seen.append(hub.model_details("acme/gated-classifier"))
    assert seen[-1].candidate.labels == tuple(TICKET_LABELS)  # the token was really sent and used
    assert any(r.authorized for r in hub_env.requests)
    with pytest.raises(RepoNotFoundError) as error:
        hub.model_details("acme/no-such-model")
    seen.append(error.value.sentence)
    hub_env.add_fault("rate_limit", times=None)
    seen.append(hub.search("text-classification", sort="likes").notice)
    run_discover("--json")
    run_discover("--task", "feature-extraction")
    output = capfd.readouterr()
    texts = [output.out, output.err, caplog.text, repr(seen), repr(hub_env.requests)]
    texts += [json.dumps([c.to_dict() for r in seen if isinstance(r, hub.SearchResult) for c in r.candidates])]
    assert all(CANARY not in text for text in texts)
    files = [p for p in Path(os.environ["HF_HOME"]).rglob("*") if p.is_file()]
    assert files and all(CANARY.encode() not in p.read_bytes() for p in files)


# --------------------------------------------------------------------------- with the engine, over HTTP

ENGINE_SCRIPT = """
import json
from core import hub
from core.settings import get_settings

result = hub.search("text-classification", include_local=False)
first = result.candidates[0]
out = {"notice": result.notice, "first": first.id, "sha": first.sha, "safe": first.check("safe_to_load").ok}
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained("acme/tiny-nli")
out["from_pretrained_labels"] = [model.config.id2label[i] for i in sorted(model.config.id2label)]
try:
    from core.loading import ModelSpec, load_model
except ImportError as error:
    out["loading"] = f"core.loading is not importable: {error}"
else:
    loaded = load_model(ModelSpec(source=first.id, revision=None), head="classifier", device="cpu", dtype="float32",
                        settings=get_settings())
    config = loaded.model.config
    out["loaded"] = {"sha": loaded.sha, "labels": [config.id2label[i] for i in sorted(config.id2label)],
                     "local_dir": str(getattr(loaded, "local_dir", None) or loaded.files.local_dir)}
print("RESULT " + json.dumps(out))
"""


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MSD_", "HUGGING"))}
    return env | {"HF_HOME": str(tmp_path / "hf-home"), "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def engine_run(fake_hub, tmp_path_factory):
    """In a subprocess with HF_ENDPOINT set before import: search, then from_pretrained and load_model."""
    fake_hub.clear()
    env = clean_env(tmp_path_factory.mktemp("engine")) | {"HF_ENDPOINT": fake_hub.url, "HF_TOKEN": CANARY}
    finished = subprocess.run([sys.executable, "-c", ENGINE_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=180)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT "):]) if lines else {}
    return finished, result, list(fake_hub.requests), env["HF_HOME"]


def test_transformers_from_pretrained_works_against_the_fake_hub(engine_run):
    finished, result, _, _ = engine_run
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert result["from_pretrained_labels"] == NLI_LABELS
    assert CANARY not in finished.stdout + finished.stderr


def test_a_model_found_by_search_is_downloaded_and_loaded_by_the_engine(engine_run, fake_hub):
    finished, result, requests, hf_home = engine_run
    assert finished.returncode == 0, finished.stderr[-3000:]
    if "loading" in result:
        pytest.skip(result["loading"])
    repo = fake_hub.repos["acme/ticket-classifier"]
    assert result["first"] == repo.repo_id and result["safe"] and not result["notice"]
    assert result["loaded"]["sha"] == repo.sha and result["loaded"]["labels"] == TICKET_LABELS
    assert Path(result["loaded"]["local_dir"]).is_relative_to(hf_home)
    weights = f"/{repo.repo_id}/resolve/{repo.sha}/model.safetensors"
    assert any(r.method == "GET" and r.path == weights for r in requests)
