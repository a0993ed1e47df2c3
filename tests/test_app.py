"""The Streamlit app renders (AppTest runs the real script, no browser)."""

from streamlit.testing.v1 import AppTest

from core.dataset import load_csv
from core.paths import EXAMPLE_SAMPLE, ROOT


def test_landing_page_shows_devices_and_the_shipped_sample():
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "Model selection dashboard"
    devices = app.dataframe[0].value
    assert devices["device"].tolist()[0] == "cpu"
    sample = load_csv(EXAMPLE_SAMPLE)
    assert any(f"{len(sample)} labeled support tickets" in m.value for m in app.markdown)
