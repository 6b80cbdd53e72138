"""ganlab: a lab for Generative Adversarial Networks (engine; never imports streamlit)."""

__version__ = "0.1.0"
