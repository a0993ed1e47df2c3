"""The rules editor on Evaluate: a table of keywords and patterns per label, load and save the file,
and keyword suggestions scored by cross-validation. Returns the rules to score as a trial."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.dataset import LabeledSample
from core.errors import AppError
from core.keywords import suggest_keywords
from core.rules import RuleSet, dump_rules, parse_rules, parse_rules_text, rules_as_settings
from ui import state

DOCUMENT = state.RULES_DOCUMENT  # the rules as the file's layout, with its name (kept in the working set)
VERSION = "rules_version"  # bumped when the document is replaced, so the tables show the new one
ABSTAIN = "(none: no label, counted wrong)"
KINDS = ("keyword", "pattern")


def rules_editor(sample: LabeledSample) -> tuple[dict, ...]:
    """The editor; the rules to add to the run (none when off or invalid)."""
    with st.expander("Rules: keywords and patterns scored like a model", expanded=DOCUMENT in st.session_state):
        load_file()
        document = st.session_state.setdefault(DOCUMENT, empty_document(sample))
        suggestions(sample)
        edited = edit_document(document, sample)
        st.session_state[DOCUMENT] = edited
        rules = checked(edited)
        if rules is None:
            return ()
        st.download_button("Save rules file (YAML)", dump_rules(rules), file_name=yaml_name(rules.name),
                           mime="application/x-yaml")
        if st.toggle("Score these rules as a trial in the next run", value=True, key="rules-on"):
            return (rules_as_settings(rules),)
    return ()


def empty_document(sample: LabeledSample) -> dict:
    return {"name": "rules.yaml", "labels": {label: {"keywords": [], "patterns": []} for label in sample.label_set},
            "match": "most", "case_sensitive": False}


def replace_document(document: dict) -> None:
    st.session_state[DOCUMENT] = document
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def load_file() -> None:
    upload = st.file_uploader("Load a rules file (YAML or JSON)", type=["yaml", "yml", "json"], key="rules-file")
    if upload is None or st.session_state.get("rules-loaded") == upload.file_id:
        return
    try:
        rules = parse_rules_text(upload.getvalue().decode("utf-8", errors="replace"), name=upload.name)
    except AppError as error:
        st.error(state.md(error.sentence))
        return
    st.session_state["rules-loaded"] = upload.file_id
    replace_document(rules_as_settings(rules))


def suggestions(sample: LabeledSample) -> None:
    if st.button("Suggest keywords", help="Words most associated with each label in the sample (chi-squared), "
                                          "scored by cross-validation: chosen on the other folds, scored on each held-out fold."):
        try:
            st.session_state["rules-suggestion"] = suggest_keywords(sample, resamples=200)
        except AppError as error:
            st.error(state.md(error.sentence))
    suggestion = st.session_state.get("rules-suggestion")
    if suggestion is None:
        return
    low, high = suggestion.scores.accuracy_ci
    st.caption(f"Suggested keywords: as rules, {suggestion.scores.accuracy:.1%} accurate (95% interval {low:.1%} - "
               f"{high:.1%}) on rows they were not chosen from ({suggestion.folds}-fold cross-validation).")
    st.dataframe(pd.DataFrame([{"label": label, "keywords": ", ".join(words)}
                               for label, words in suggestion.keywords.items()]), hide_index=True)
    if st.button("Add the suggested keywords to the rules"):
        replace_document(with_suggestion(st.session_state.get(DOCUMENT) or empty_document(sample), suggestion.keywords))
        st.rerun()


def with_suggestion(document: dict, keywords: dict[str, list[str]]) -> dict:
    labels = {label: {"keywords": list(entry.get("keywords", [])), "patterns": list(entry.get("patterns", []))}
              for label, entry in document["labels"].items()}
    for label, words in keywords.items():
        entry = labels.setdefault(label, {"keywords": [], "patterns": []})
        entry["keywords"] += [word for word in words if word not in entry["keywords"]]
    return {**document, "labels": labels}


def edit_document(document: dict, sample: LabeledSample) -> dict:
    version = st.session_state.get(VERSION, 0)
    name = st.text_input("Name of the rules (the trial's name)", document.get("name", "rules.yaml"), key=f"rules-name-{version}")
    labels = {}
    for label in ordered_labels(document, sample):
        entry = document["labels"].get(label, {})
        rows = [{"type": "keyword", "text": k} for k in entry.get("keywords", [])]
        rows += [{"type": "pattern", "text": p} for p in entry.get("patterns", [])]
        st.markdown(f"**{state.md(label)}**")
        edited = st.data_editor(pd.DataFrame(rows, columns=["type", "text"]), num_rows="dynamic", hide_index=True,
                                key=f"rules-{version}-{label}", column_config={
                                    "type": st.column_config.SelectboxColumn(options=list(KINDS), default="keyword"),
                                    "text": st.column_config.TextColumn(help="A keyword or phrase (whole words), "
                                                                             "or a Python regular expression")})
        labels[label] = terms_of(edited)
    return {"name": name.strip() or "rules.yaml", "labels": labels, **match_settings(document, sample, version)}


def ordered_labels(document: dict, sample: LabeledSample) -> list[str]:
    """The file's labels in its (priority) order, then the sample's other labels."""
    return list(dict.fromkeys([*document["labels"], *sample.label_set]))


def terms_of(frame: pd.DataFrame) -> dict[str, list[str]]:
    rows = [r for r in frame.to_dict("records") if isinstance(r.get("text"), str) and r["text"].strip()]
    return {"keywords": [r["text"].strip() for r in rows if r.get("type") != "pattern"],
            "patterns": [r["text"] for r in rows if r.get("type") == "pattern"]}


def match_settings(document: dict, sample: LabeledSample, version: int) -> dict:
    left, middle, right = st.columns(3)
    options = [ABSTAIN, *sample.label_set]
    current = document.get("fallback")
    fallback = left.selectbox("When no rule fires", options, index=options.index(current) if current in options else 0,
                              key=f"rules-fallback-{version}")
    match = middle.radio("When several labels match", ["most", "first"], horizontal=True, key=f"rules-match-{version}",
                         index=0 if document.get("match", "most") == "most" else 1,
                         help="most: the label with most hits (ties by order); first: the first label with a hit.")
    case = right.checkbox("Case-sensitive", bool(document.get("case_sensitive")), key=f"rules-case-{version}")
    chosen = {"match": match, "case_sensitive": case}
    if fallback != ABSTAIN:
        chosen["fallback"] = fallback
    return chosen


def checked(document: dict) -> RuleSet | None:
    """The rules if they can run: labels without terms are left out; a problem is shown as a sentence."""
    used = {label: entry for label, entry in document["labels"].items() if entry["keywords"] or entry["patterns"]}
    if not used:
        st.caption("Add a keyword or pattern to a label, load a rules file, or take the suggested keywords.")
        return None
    try:
        return parse_rules({k: v for k, v in {**document, "labels": used}.items() if k != "name"}, name=document["name"])
    except AppError as error:
        st.error(state.md(error.sentence))
        return None


def yaml_name(name: str) -> str:
    return name if name.endswith((".yaml", ".yml")) else f"{name.rsplit('.', 1)[0]}.yaml"
