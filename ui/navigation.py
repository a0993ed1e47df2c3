"""The pages of the dashboard, in the order the navigation lists them."""

import streamlit as st

PAGE_FILES = {
    "pages/home.py": "Home",
    "pages/discover.py": "Discover",
    "pages/sample.py": "Sample",
    "pages/evaluate.py": "Evaluate",
    "pages/compare.py": "Compare",
    "pages/report.py": "Report",
    "pages/history.py": "History",
}


def build(*, visible: bool = True):
    """Register the pages with Streamlit; returns the page the URL asks for (not yet run).

    Hidden before sign-in: a deep link still resolves, but nobody sees where it could lead.
    """
    pages = [st.Page(path, title=title, default=path.endswith("home.py")) for path, title in PAGE_FILES.items()]
    return st.navigation(pages, position="sidebar" if visible else "hidden")
