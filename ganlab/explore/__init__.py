"""A trained G, read: latent maths on seeds (latent.py), the Explorer a page asks for samples
(explorer.py), and the live preview a tick shows (preview.py)."""
