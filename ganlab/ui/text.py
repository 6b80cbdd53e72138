"""Text from the engine or the user inside Streamlit's Markdown (messages, help, captions all parse it): shown
literally, so seed arithmetic's `0.5*12 + 0.5*7` does not turn into italics and a path's underscores stay."""

from __future__ import annotations

import re

_INLINE_MARKUP = re.compile(r"([\\`*_\[\]<>$~])")  # what can start emphasis, code, links, HTML, LaTeX or strikes


def literal(text: object) -> str:
    """`text` escaped so Markdown shows every character as typed."""
    return _INLINE_MARKUP.sub(r"\\\1", str(text))

