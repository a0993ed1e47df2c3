"""Sign-in, who sees which run, and two sessions that never see each other's work."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import hub, hub_status, supervision
from core import settings as names
from core.access import MAX_USER_CHARS, identify
from core.dataset import load_csv
from core.errors import InputError
from core.paths import EXAMPLE_SAMPLE, ROOT
from core.runner import plan
from core.settings import get_settings
from core.store import INTERRUPTED, QUEUED, Store
from core.schema import runs as runs_table
from tests.fakehub import FakeHub, repo_from_folder
from tests.hub_fixtures import build_classifier, guard_network

APP = str(ROOT / "streamlit_app.py")


def settings_with(monkeypatch, **values):
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return get_settings()


# -- who is this ------------------------------------------------------------------------------------


def test_without_sign_in_everyone_is_anonymous_and_let_in(monkeypatch):
    monkeypatch.delenv(names.SIGN_IN, raising=False)
    who = identify(get_settings(), headers={"X-Forwarded-User": "mallory"}, oidc_user=None)
    assert (who.user, who.signed_in) == (None, True)  # a header means nothing unless proxy mode is on


def test_proxy_mode_trusts_only_its_header(monkeypatch):
    settings = settings_with(monkeypatch, **{names.SIGN_IN: "proxy", names.USER_HEADER: "X-Auth-User"})
    assert identify(settings, headers={"x-auth-user": " alice "}, oidc_user=None).user == "alice"
    missing = identify(settings, headers={"X-Forwarded-User": "alice"}, oidc_user="alice")
    assert (missing.user, missing.signed_in) == (None, False) and "company sign-in" in missing.sentence
    for bad in ("a" * (MAX_USER_CHARS + 1), "alice\nbob"):
        assert not identify(settings, headers={"X-Auth-User": bad}, oidc_user=None).signed_in


def test_oidc_mode_uses_streamlits_sign_in(monkeypatch):
    settings = settings_with(monkeypatch, **{names.SIGN_IN: "oidc"})
    assert identify(settings, headers={"X-Forwarded-User": "mallory"}, oidc_user=None).signed_in is False
    assert identify(settings, headers={}, oidc_user="alice@example.com").user == "alice@example.com"


def test_an_unknown_mode_is_refused_with_the_valid_ones(monkeypatch):
    with pytest.raises(InputError, match="MSD_SIGN_IN='ldap' is not a sign-in mode.*proxy.*oidc"):
        identify(settings_with(monkeypatch, **{names.SIGN_IN: "ldap"}), headers={}, oidc_user=None)


# -- the dashboard under sign-in --------------------------------------------------------------------


@pytest.fixture
def hub_and_store(tmp_path, monkeypatch):
    refused = guard_network(monkeypatch)
    folder = build_classifier(tmp_path / "classifier")
    with FakeHub({"acme/ticket-classifier": repo_from_folder(folder, "acme/ticket-classifier")}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.setenv(names.DATA_DIR, str(tmp_path / "data"))
        monkeypatch.delenv("DATABASE_URL", raising=False)
        hub.clear_search_cache()
        hub_status.forget()
        yield server, Store(settings=get_settings())
    hub_status.forget()
    assert not refused


def signed_in_app(user: dict) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.user = user
    return app.run()


def test_nothing_renders_and_the_hub_is_not_asked_before_sign_in(hub_and_store, monkeypatch):
    server, _ = hub_and_store
    monkeypatch.setenv(names.SIGN_IN, "oidc")
    app = signed_in_app({"is_logged_in": False})
    assert [t.value for t in app.title] == ["Sign in"]
    assert [b.label for b in app.button] == ["Sign in"]
    assert not app.dataframe and not app.sidebar.markdown
    assert server.requests == []


def test_a_user_sees_their_own_runs_and_shared_ones(hub_and_store, monkeypatch):
    server, store = hub_and_store
    monkeypatch.setenv(names.SIGN_IN, "oidc")
    sample = load_csv(EXAMPLE_SAMPLE)
    specs = [vars(spec) for spec in plan([], baselines=True)]
    mine = store.create_run(sample, specs, started_by="alice@example.com")
    private = store.create_run(sample, specs, started_by="bob@example.com")
    shared = store.create_run(sample, specs, started_by="bob@example.com", shared=True)
    app = signed_in_app({"is_logged_in": True, "email": "alice@example.com"})
    assert app.title[0].value == "Model selection dashboard"
    app.switch_page("pages/history.py").run()
    shown = set(app.dataframe[0].value["run"])
    assert shown == {mine[:8], shared[:8]} and private[:8] not in shown
    assert store.is_visible(shared, "alice@example.com") and not store.is_visible(private, "alice@example.com")
    assert store.is_visible(private, None)  # with sign-in off, one team sees everything


def select_run(app: AppTest, run_id: str) -> list[str]:
    """Select a run in the History table; the labels of the buttons then offered."""
    order = list(app.dataframe[0].value["run"])
    app.session_state["runs"] = {"selection": {"rows": [order.index(run_id[:8])], "columns": []}}
    app.run()
    return [b.label for b in app.button]


def test_only_the_owner_may_resume_or_delete_a_run(hub_and_store, monkeypatch):
    server, store = hub_and_store
    monkeypatch.setenv(names.SIGN_IN, "oidc")
    monkeypatch.setattr(supervision, "ensure_worker", lambda *args, **kwargs: False)  # no background worker here
    monkeypatch.setattr(supervision, "heal", lambda *args, **kwargs: supervision.Healing())
    sample, specs = load_csv(EXAMPLE_SAMPLE), [vars(spec) for spec in plan([], baselines=True)]
    mine = store.create_run(sample, specs, started_by="alice@example.com")
    with store.engine.begin() as db:  # as if the worker had stopped mid-run
        db.execute(runs_table.update().where(runs_table.c.id == mine).values(status=INTERRUPTED))
    theirs = store.create_run(sample, specs, started_by="bob@example.com", shared=True)
    app = signed_in_app({"is_logged_in": True, "email": "alice@example.com"})
    app.switch_page("pages/history.py").run()

    offered = select_run(app, theirs)
    assert "Delete for good" not in offered and not [label for label in offered if label.startswith("Resume")]
    offered = select_run(app, mine)
    assert "Delete for good" in offered
    next(b for b in app.button if b.label.startswith("Resume")).click()
    app.run()
    assert store.job_progress(mine).status == QUEUED and "2 unfinished trial(s) queued again" in app.success[0].value
    assert store.job_progress(theirs).status == QUEUED  # untouched: still waiting for the worker


def test_the_store_itself_refuses_to_change_another_users_run(hub_and_store):
    """The rule lives where runs live: the pages, the command line and any later API obey it."""
    _, store = hub_and_store
    sample, specs = load_csv(EXAMPLE_SAMPLE), [vars(spec) for spec in plan([], baselines=True)]
    bobs = store.create_run(sample, specs, started_by="bob@example.com", shared=True)
    for action, call in [("cancel", lambda by: store.request_cancel(bobs, by=by)),
                         ("share", lambda by: store.set_shared(bobs, False, by=by)),
                         ("delete", lambda by: store.delete_run(bobs, by=by))]:
        with pytest.raises(InputError, match=f"Run {bobs} is bob@example.com's: only they may {action} it"):
            call("alice@example.com")
    assert store.job_progress(bobs).status == QUEUED and store.is_visible(bobs, "alice@example.com")
    assert store.request_cancel(bobs, by="bob@example.com")  # the owner may
    with pytest.raises(InputError, match="only they may resume it"):
        store.resume(bobs, by="alice@example.com")
    assert store.resume(bobs, by=None) == 2  # sign-in off (and the administrator's command line): anyone
    assert store.delete_run(bobs, by="bob@example.com")


def shortlist_and_sample(app: AppTest, folder) -> AppTest:
    app.switch_page("pages/sample.py").run()
    app.file_uploader[0].upload("tickets.csv", EXAMPLE_SAMPLE.read_bytes(), "text/csv")
    app.run()
    next(b for b in app.button if b.label == "Use this sample").click()
    app.run()
    app.switch_page("pages/discover.py").run()
    next(t for t in app.text_input if t.label.startswith("Add any Hub id")).set_value(str(folder))
    next(b for b in app.button if b.label == "Add to shortlist").click()
    return app.run()


def test_two_sessions_never_see_each_others_sample_or_shortlist(hub_and_store, tmp_path):
    first = shortlist_and_sample(AppTest.from_file(APP, default_timeout=60).run(), build_classifier(tmp_path / "mine"))
    assert len(first.session_state["shortlist"].entries) == 1 and "sample" in first.session_state

    second = AppTest.from_file(APP, default_timeout=60).run()
    second.switch_page("pages/evaluate.py").run()
    assert "sample" not in second.session_state
    assert second.info[0].value.startswith("Add a labeled sample on the Sample page first")
    assert "shortlist" not in second.session_state or not second.session_state["shortlist"].entries


def test_a_signed_in_users_working_set_comes_back_in_a_new_session_until_they_start_over(hub_and_store, monkeypatch, tmp_path):
    """Shared-server issue: a reload or a new tab lost the shortlist and the sample."""
    monkeypatch.setenv(names.SIGN_IN, "oidc")
    alice = {"is_logged_in": True, "email": "alice@example.com"}
    folder = build_classifier(tmp_path / "mine")
    first = shortlist_and_sample(signed_in_app(alice), folder)
    assert len(first.session_state["shortlist"].entries) == 1
    descriptions = first.session_state["label_descriptions"]
    descriptions["bug"] = "a broken thing"
    first.session_state["rules_document"] = {"name": "r.yaml", "labels": {"bug": {"keywords": ["crash"], "patterns": []}},
                                             "match": "first", "case_sensitive": False}
    first.run()

    again = signed_in_app(alice)  # a reload: a new session of the same person
    assert again.session_state["rules_document"]["labels"]["bug"]["keywords"] == ["crash"]  # the rules being edited
    assert [e.source for e in again.session_state["shortlist"].entries] == [str(folder.resolve())]
    assert again.session_state["sample"].sha256 == load_csv(EXAMPLE_SAMPLE).sha256
    assert again.session_state["label_descriptions"] == {"bug": "a broken thing"}
    bob = signed_in_app({"is_logged_in": True, "email": "bob@example.com"})
    assert "sample" not in bob.session_state and not bob.session_state["shortlist"].entries

    next(b for b in again.sidebar.button if b.label == "Start over").click()
    again.run()
    assert "sample" not in again.session_state and not again.session_state["shortlist"].entries
    assert "rules_document" not in again.session_state
    fresh = signed_in_app(alice)
    assert "sample" not in fresh.session_state and not fresh.session_state["shortlist"].entries


def test_a_working_set_round_trips_through_its_json(tmp_path):
    from core.shortlist import Shortlist
    from core.working_set import SampleFile, WorkingSet

    folder = build_classifier(tmp_path / "m")
    candidate = hub.candidate_from_folder(folder, model_id="m", origin="folder")
    candidate = hub.with_checks(candidate, get_settings())
    shortlist = Shortlist()
    shortlist.add(candidate)
    shortlist.update(candidate.source, label_map={"NEGATIVE": "bug"}, hypothesis_template="It is about {}.")
    sample = load_csv(EXAMPLE_SAMPLE)
    kept = WorkingSet(shortlist, SampleFile.of(sample, name="t.csv", raw=EXAMPLE_SAMPLE.read_bytes()), {"bug": "broken"}, "abc")
    back = WorkingSet.from_json(kept.to_json(), EXAMPLE_SAMPLE.read_bytes())
    assert back.shortlist.entries == shortlist.entries and back.run_id == "abc"
    assert back.sample.load().sha256 == sample.sha256 and back.fingerprint() == kept.fingerprint()
