"""The point families on the Train page: one picker entry per family, its parameters as number boxes.

The boxes take any number (as every box on the form does); the family's own bounds are checked by the
config's validation, which says in one sentence what is allowed, so a typed value is never silently kept
at an older one. The dataset the form runs is the family's shortest name (`ring:12,std=0.05`).
"""

from __future__ import annotations

import streamlit as st

from ..data import DataError
from ..data.families import FAMILIES, family_name, is_family, parse_family

OPTION_PREFIX = "family:"  # a picker entry that stands for a family, not for one dataset name


def family_options() -> list[str]:
    return [OPTION_PREFIX + e.name for e in FAMILIES]


def is_family_option(option: str) -> bool:
    return option.startswith(OPTION_PREFIX) and option[len(OPTION_PREFIX):] in FAMILIES


def option_for(dataset: str) -> str:
    """The picker entry of a family's dataset name (ring:12 -> family:ring)."""
    return OPTION_PREFIX + dataset.strip().partition(":")[0].strip().lower()


def option_label(option: str) -> str:
    kind = option[len(OPTION_PREFIX):]
    return f"{kind}… (choose its parameters)" if kind in ("ring", "grid") else f"{kind}…"


def _key(kind: str, param: str) -> str:
    return f"train_family_{kind}_{param}"


def seed_inputs(dataset: str, overwrite: bool) -> None:
    """A family's dataset name (handed over, or the form's on coming back) fills its boxes, so the form shows what
    runs; without `overwrite` only the boxes Streamlit has forgotten (it drops a widget's state off its page)."""
    if not is_family(dataset):
        return
    try:
        family = parse_family(dataset)
    except DataError:
        return
    for p in family.entry.params:
        if overwrite or _key(family.kind, p.name) not in st.session_state:
            st.session_state[_key(family.kind, p.name)] = family.values[p.name]


def family_inputs(option: str) -> str:
    """The chosen family's parameters as number boxes; the dataset name they make."""
    kind = option[len(OPTION_PREFIX):]
    entry = FAMILIES.get(kind)
    st.caption(FAMILIES.describe(kind))
    values: dict[str, float] = {}
    for column, p in zip(st.columns(len(entry.params)), entry.params):
        key = _key(kind, p.name)
        st.session_state.setdefault(key, int(p.default) if p.integer else float(p.default))
        low = f"above {p.low:g}" if p.above_low else f"{p.low:g}"
        help = f"`{p.name}`: {p.help}, {low} to {p.high:g}."
        with column:
            if p.integer:
                values[p.name] = st.number_input(p.label or p.name, key=key, step=1, help=help)
            else:
                st.session_state[key] = float(st.session_state[key])
                values[p.name] = st.number_input(p.label or p.name, key=key, format="%g", step=_step(p.default),
                                                 help=help)
    return family_name(kind, values)


def _step(default: float) -> float:
    return 0.01 if default < 0.1 else 0.1 if default < 1 else 0.5
