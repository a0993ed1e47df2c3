"""Landing page: what the tool does, what this server has, and how to run an evaluation."""

import streamlit as st

from core.dataset import load_csv
from core.devices import detect_devices
from core.paths import EXAMPLE_SAMPLE
from ui import demo, state

state.start_page()

st.title("Model selection dashboard")
st.write(
    "Find Hugging Face models for a classification task, run them on a small labeled sample, "
    "and compare accuracy (with confidence intervals), latency and memory per device before you fine-tune."
)

st.subheader("Devices on this server")
st.dataframe(
    [{"device": d.name, "description": d.description} for d in detect_devices()],
    hide_index=True,
)

demo.build_panel()

st.subheader("Shipped example sample")
sample = load_csv(EXAMPLE_SAMPLE)
st.write(f"{len(sample)} labeled support tickets, sha256 `{sample.sha256[:12]}`.")
st.bar_chart(sample.label_counts, horizontal=True)

st.subheader("Evaluate from the command line")
st.code(
    "python -m core evaluate --data examples/support_tickets.csv "
    "--model demo_models/ticket-classifier --model demo_models/ticket-nli --out results.json",
    language="bash",
)
st.page_link("pages/discover.py", label="Start: discover candidate models")
