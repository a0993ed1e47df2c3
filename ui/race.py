"""The racing switch of the Evaluate page (core.racing): off by default, with its three settings."""

from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.metrics import ALPHA
from core.racing import DEFAULT_FIRST_ROWS, DEFAULT_GROWTH, RaceSettings
from core.settings import get_settings
from ui import state

RACE_HELP = (
    "All models are scored on the same first rows of a seeded shuffle (50, then 75, 112, ... and all rows). After "
    "each round, a model a paired test (McNemar, Holm-adjusted) finds worse than the leader stops; it keeps a "
    "leaderboard row with the rows it saw. Each round loads a model again. The embedding probe, fine-tuning, rules "
    "and baselines are not raced: they run on all rows and can lead."
)


def race_inputs() -> RaceSettings | None:
    """The race the person asked for, or None; a bad setting is shown as an error and gives None."""
    if not st.toggle("Race: stop clearly worse models early", key="race", help=RACE_HELP):
        return None
    alpha, first, growth = st.columns(3)
    race = RaceSettings(
        alpha=float(alpha.number_input("Stop when p is below", 0.001, 0.5, ALPHA, step=0.01, format="%.3f",
                                       key="race-alpha")),
        first_rows=int(first.number_input("Rows in the first round", 10, 100_000, DEFAULT_FIRST_ROWS, key="race-first")),
        growth=float(growth.number_input("Each round's rows grow by", 1.5, 10.0, DEFAULT_GROWTH, step=0.5,
                                         key="race-growth")),
        seed=get_settings().seed,
    )
    try:
        race.check()
    except AppError as error:
        st.error(state.md(error.sentence))
        return None
    return race
