"""Every dashboard page through Streamlit's AppTest: it renders, and its key interaction works.

The Hub is the fake one on 127.0.0.1; models are the tiny ones the fixtures build; runs go
through a real worker process and a real SQLite store in a temporary data folder.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from sklearn.metrics import accuracy_score
from streamlit.testing.v1 import AppTest

from core import hub, hub_status
from core import settings as names
from core.dataset import load_csv
from core.paths import EXAMPLE_SAMPLE, ROOT
from core.settings import get_settings
from core.store import Store
from core.supervision import worker_alive, worker_pid
from tests.fakehub import FakeHub, repo_from_folder
from tests.hub_fixtures import TICKET_LABELS, build_catalog_folders, build_classifier, guard_network

APP = str(ROOT / "streamlit_app.py")
TITLES = {"home": "Model selection dashboard", "discover": "Discover models", "sample": "Labeled sample",
          "evaluate": "Evaluate", "compare": "Compare", "report": "Report", "history": "History"}
PAGES = list(TITLES)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> dict:
    return build_catalog_folders(tmp_path_factory.mktemp("pages-catalog"))


@pytest.fixture(scope="module")
def fake_hub(catalog):
    with FakeHub({repo_id: repo_from_folder(folder, repo_id) for repo_id, folder in catalog.items()}) as server:
        yield server


@pytest.fixture
def env(fake_hub, monkeypatch, tmp_path):
    refused = guard_network(monkeypatch)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv(names.DATA_DIR, str(tmp_path / "data"))
    monkeypatch.setenv(names.HUB_TIMEOUT_S, "3")
    monkeypatch.setenv(names.BOOTSTRAP_RESAMPLES, "100")
    monkeypatch.setenv(names.LATENCY_ROWS, "4")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    hub.clear_search_cache()
    hub_status.forget()
    yield tmp_path
    assert not refused, f"a page tried to reach {refused}"


def app_on(page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60).run()
    if page != "home":
        app.switch_page(f"pages/{page}.py").run()
    assert_no_failure(app)
    return app


def assert_no_failure(app: AppTest) -> None:
    """Neither an exception nor the error-id sentence that replaces one in the browser."""
    assert not app.exception, app.exception
    assert not [e.value for e in app.error if "error id" in e.value]


def test_a_page_that_fails_shows_an_error_id_not_the_details(env, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("details for the log only: /srv/secret/path")

    monkeypatch.setattr("core.dataset.load_csv", broken)  # the Home page reads the shipped sample
    app = AppTest.from_file(APP, default_timeout=60).run()
    shown = " ".join(e.value for e in app.error)
    error_id = re.search(r"error id ([0-9a-f]{8})", shown).group(1)
    assert "Something went wrong in the Home page" in shown and "/srv/secret" not in shown
    assert not app.exception
    assert f"Home page failed (error id {error_id})" in caplog.text and "/srv/secret/path" in caplog.text
    assert [m.value for m in app.sidebar.markdown] == ["**Hub: mirror**"]  # the rest of the app still works


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_an_empty_session(env, page):
    app = app_on(page)
    assert app.title[0].value == TITLES[page]


def test_the_sidebar_shows_hub_devices_worker_and_session(env):
    # AppTest keeps the entry script's sidebar only on the first page; the browser test checks every page.
    app = app_on("home")
    assert [m.value for m in app.sidebar.markdown] == ["**Hub: mirror**"]  # the fake Hub is not huggingface.co
    captions = [c.value for c in app.sidebar.caption]
    assert captions[1] == "Devices: cpu"
    assert captions[2] == "Shortlist: 0 model(s). Sample: none."
    assert captions[3].startswith("Worker: not running") and captions[3].endswith("0 job(s) waiting.")
    assert captions[4].startswith("Trials run on this machine (the local worker;")


def test_the_sidebar_names_the_ray_cluster_and_what_its_worker_last_saw_free(env, monkeypatch):
    from core.backend_status import ClusterStatus, trial_devices, write_status
    from core.settings import get_settings

    monkeypatch.setenv("MSD_RAY_ADDRESS", "ray://head:10001")
    assert captions_of(app_on("home"))[4] == ("Trials run on the Ray cluster at ray://head:10001; its nodes show here "
                                              "once the worker has joined it.")
    write_status(get_settings(), ClusterStatus("ray://head:10001", nodes=3, cpus=48, gpus=4, cpus_free=40, gpus_free=1))
    assert captions_of(app_on("home"))[4] == ("Trials run on the Ray cluster at ray://head:10001: 3 node(s), "
                                              "40 of 48 CPUs and 1 of 4 GPUs free.")
    assert trial_devices(get_settings(), ["cpu"]) == ["cpu", "cuda"], "the cluster's GPUs, though this machine has none"
    monkeypatch.delenv("MSD_RAY_ADDRESS")
    assert trial_devices(get_settings(), ["cpu"]) == ["cpu"]


def captions_of(app: AppTest) -> list[str]:
    """The sidebar's captions as shown (without the escapes that keep outside text from being Markdown)."""
    return [c.value.replace("\\", "") for c in app.sidebar.caption]


def search(app: AppTest, text: str = "", task: str = "text-classification") -> AppTest:
    app.selectbox[0].set_value(task)
    app.text_input[0].set_value(text)
    app.button[0].click()  # the form's Search button comes first
    return app.run()


def select_and_add(app: AppTest, models: list[str]) -> AppTest:
    frame = app.dataframe[0].value
    rows = [int(i) for i in frame.index[frame["model"].isin(models)]]
    app.session_state["candidates"] = {"selection": {"rows": rows, "columns": []}}
    app.run()
    next(b for b in app.button if b.label == f"Add {len(models)} selected to the shortlist").click()
    return app.run()


def test_discover_searches_the_fake_hub_and_builds_a_shortlist(env):
    app = search(app_on("discover"))
    frame = app.dataframe[0].value.set_index("model")
    assert frame.loc["acme/ticket-classifier", "downloads"] == 52_000
    assert frame.loc["acme/ticket-classifier", "likes"] == 130
    assert "acme/secret-classifier" not in frame.index  # private: never listed
    assert "acme/tiny-nli" not in frame.index  # another task
    assert list(frame["downloads"].dropna()) == sorted(frame["downloads"].dropna(), reverse=True)
    select_and_add(app, ["acme/ticket-classifier"])
    select_and_add(search(app, task="zero-shot-classification"), ["acme/tiny-nli"])
    shortlist = app.session_state["shortlist"]
    assert [e.source for e in shortlist.entries] == ["acme/ticket-classifier", "acme/tiny-nli"]
    assert [e.kind for e in shortlist.entries] == ["text-classification", "zero-shot-classification"]
    app.switch_page("pages/sample.py").run()
    app.switch_page("pages/discover.py").run()
    assert [e.source for e in app.session_state["shortlist"].entries] == ["acme/ticket-classifier", "acme/tiny-nli"]


def test_discover_hides_candidates_failing_a_check(env):
    app = search(app_on("discover"))
    app.multiselect[0].set_value(["safe_to_load"]).run()
    shown = set(app.dataframe[0].value["model"])
    assert "eve/pickle-classifier" not in shown and "eve/custom-classifier" not in shown
    assert "acme/ticket-classifier" in shown


def test_adding_by_hand_accepts_a_folder_and_explains_a_bad_id(env, tmp_path):
    folder = build_classifier(tmp_path / "my-classifier", TICKET_LABELS)
    app = app_on("discover")
    form_input = next(t for t in app.text_input if t.label.startswith("Add any Hub id"))
    form_input.set_value(str(folder))
    next(b for b in app.button if b.label == "Add to shortlist").click()
    app.run()
    entry = app.session_state["shortlist"].entries[0]
    assert entry.source == str(folder.resolve()) and entry.candidate.labels == tuple(TICKET_LABELS)
    form_input = next(t for t in app.text_input if t.label.startswith("Add any Hub id"))
    form_input.set_value("not a model id!")
    next(b for b in app.button if b.label == "Add to shortlist").click()
    app.run()
    assert "neither a model folder on this server nor a Hub id" in app.error[0].value
    assert len(app.session_state["shortlist"].entries) == 1  # nothing already added was lost


def upload_sample(app: AppTest, name: str, content: bytes) -> AppTest:
    app.file_uploader[0].upload(name, content, "text/csv")
    app.run()
    next(b for b in app.button if b.label == "Use this sample").click()
    return app.run()


def test_sample_upload_picks_columns_and_shows_the_distribution(env):
    app = upload_sample(app_on("sample"), "tickets.csv", EXAMPLE_SAMPLE.read_bytes())
    expected = load_csv(EXAMPLE_SAMPLE)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Rows"] == str(len(expected)) and metrics["Labels"] == str(len(expected.label_set))
    assert app.session_state["sample"].sha256 == expected.sha256
    assert_no_failure(app)


def test_a_bad_upload_says_what_is_wrong_and_keeps_the_previous_sample(env):
    app = upload_sample(app_on("sample"), "tickets.csv", EXAMPLE_SAMPLE.read_bytes())
    good = app.session_state["sample"].sha256
    app.file_uploader[0].clear()
    app.run()
    app.file_uploader[0].upload("empty.csv", b"", "text/csv")
    app.run()
    assert "The file is empty" in app.error[0].value
    assert app.session_state["sample"].sha256 == good


def test_the_sample_preview_is_parsed_once_per_file_not_on_every_rerun(env, monkeypatch):
    """Audit item 11: the Sample page parsed the whole file again on every rerun."""
    import core.dataset

    parsed = []
    preview = core.dataset.preview_csv
    monkeypatch.setattr(core.dataset, "preview_csv", lambda raw, **kw: parsed.append(len(raw)) or preview(raw, **kw))
    content = EXAMPLE_SAMPLE.read_bytes() + f"one more row {time.time_ns()},bug\n".encode()  # not cached by another test
    app = app_on("sample")
    app.file_uploader[0].upload("tickets.csv", content, "text/csv")
    for _ in range(3):
        app.run()
    assert app.dataframe[0].value.shape[0] == 20, "the preview is shown"
    assert parsed == [len(content)]
    assert_no_failure(app)


def test_slice_columns_chosen_on_sample_reach_the_run_and_compare_shows_the_slices(env):
    from dataclasses import asdict

    from core.runner import plan, run_plan
    from tests.test_slices import channel_csv

    app = app_on("sample")
    app.file_uploader[0].upload("tickets.csv", channel_csv(), "text/csv")
    app.run()
    chooser = next(m for m in app.multiselect if m.label == "Slice scores by")
    assert chooser.options == ["channel"], "text and label columns are not offered"
    chooser.set_value(["channel"])
    next(b for b in app.button if b.label == "Use this sample").click()
    app.run()
    assert_no_failure(app)
    sample = app.session_state["sample"]
    assert sample.metadata == load_csv(channel_csv(), slice_columns=["channel"]).metadata
    assert app.session_state["sample_file"].slice_columns == ("channel",), "kept in the working set"
    assert next(m for m in app.multiselect if m.label == "Slice scores by").value == ["channel"]

    specs = plan([], baselines=True)  # what Evaluate submits: the session's sample, metadata and all
    store = Store(settings=get_settings())
    run_id = store.save_completed_run(sample, [asdict(s) for s in specs], run_plan(specs, sample, settings=get_settings()))
    assert store.load_run(run_id).slices["channel"] == sample.metadata["channel"]
    app.switch_page("pages/compare.py")
    app.query_params["run"] = run_id
    app.run()
    assert_no_failure(app)
    assert "Slices" in [h.value for h in app.subheader]
    assert any("channel: fax (5 rows)" in m.value for m in app.markdown), "the small slice is called out"
    table = next(d.value for d in app.dataframe if "slice" in d.value.columns)
    assert "channel: chat" in set(table["slice"]) and "channel: fax (too few rows to rank)" in set(table["slice"])


@pytest.fixture
def worker_stopper(env):
    """Stop the worker the Evaluate page starts, when the test ends."""
    yield
    pid = worker_pid(get_settings())
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while worker_alive(get_settings()) and time.monotonic() < deadline:
            time.sleep(0.2)


def wait_until_finished(run_id: str, timeout_s: float = 180) -> None:
    store = Store(settings=get_settings())
    deadline = time.monotonic() + timeout_s
    while store.job_progress(run_id).status in ("queued", "running"):
        assert time.monotonic() < deadline, f"run {run_id} did not finish in {timeout_s} s"
        time.sleep(0.5)


def add_folder(app: AppTest, folder) -> AppTest:
    next(t for t in app.text_input if t.label.startswith("Add any Hub id")).set_value(str(folder))
    next(b for b in app.button if b.label == "Add to shortlist").click()
    return app.run()


def on_evaluate_with(folder, name: str, content: bytes) -> AppTest:
    """A session that shortlisted the model in `folder`, uploaded a sample and opened Evaluate."""
    app = add_folder(app_on("discover"), folder)
    app.switch_page("pages/sample.py").run()
    upload_sample(app, name, content)
    return app.switch_page("pages/evaluate.py").run()


def test_edit_label_map_submit_then_compare_report_and_history(env, worker_stopper, untrained_classifier, synthetic_csv):
    app = on_evaluate_with(untrained_classifier, "synthetic.csv", synthetic_csv.read_bytes())
    source = str(untrained_classifier.resolve())
    assert "Unmapped model labels" in app.warning[0].value  # NEGATIVE, POSITIVE, neutral match no ticket label
    chosen = {"NEGATIVE": "bug", "POSITIVE": "feature_request", "neutral": "general_inquiry"}
    app.session_state[f"map-{source}"] = {"edited_rows": {i: {"sample label": chosen[m]} for i, m in
                                                          enumerate(["NEGATIVE", "POSITIVE", "neutral"])},
                                          "added_rows": [], "deleted_rows": []}
    app.run()
    assert app.session_state["shortlist"].entries[0].label_map == chosen
    assert not [w for w in app.warning if "Unmapped" in w.value]
    next(b for b in app.button if b.label == "Run evaluation").click()
    app.run()
    run_id = app.query_params["run"][0] if isinstance(app.query_params["run"], list) else app.query_params["run"]
    wait_until_finished(run_id)

    stored = Store(settings=get_settings()).load_run(run_id)
    model_trial = stored.results[0]
    assert model_trial.ok and model_trial.settings["label_map"] == chosen
    sample = load_csv(synthetic_csv)
    predicted = [p.labels[0] for p in model_trial.predictions]
    assert set(predicted) <= set(chosen.values())
    expected_accuracy = accuracy_score(sample.single_labels, predicted)

    app.switch_page("pages/compare.py").run()
    assert_no_failure(app)
    board = app.dataframe[0].value.set_index("trial")
    assert board["accuracy"].max() == pytest.approx(max(t.metrics.accuracy for t in stored.results if t.ok))
    model_row = board.loc[[name for name in board.index if not name.startswith("baseline")][0]]
    assert model_row["accuracy"] == pytest.approx(expected_accuracy)
    assert {"baseline-majority", "baseline-tfidf"} <= set(board.index)

    app.switch_page("pages/report.py").run()
    assert_no_failure(app)
    labels = [b.label for b in app.get("download_button")]
    assert "HTML (interactive, offline)" in labels and "JSON (full results)" in labels

    app.switch_page("pages/history.py").run()
    runs = app.dataframe[0].value
    assert list(runs["sample"]) == ["synthetic.csv"] and runs["status"].iloc[0] == "done"


def test_the_run_being_watched_survives_a_switch_of_pages(env, worker_stopper, synthetic_csv):
    """The sidebar navigation drops `?run=`: the run this session watched comes back, in the URL too."""
    from core.runner import plan

    store = Store(settings=get_settings())
    run_id = store.create_run(load_csv(synthetic_csv), [vars(spec) for spec in plan([], baselines=True)])
    app = app_on("evaluate")
    app.query_params["run"] = run_id
    app.run()
    assert [h.value for h in app.subheader if h.value == "Progress"], "the progress panel shows"
    app.switch_page("pages/sample.py").run()
    app.switch_page("pages/evaluate.py")
    app.query_params.pop("run", None)  # as the browser's navigation leaves it
    app.run()
    assert_no_failure(app)
    assert [h.value for h in app.subheader if h.value == "Progress"], "the panel came back after the switch"
    assert app.query_params["run"] in (run_id, [run_id])
