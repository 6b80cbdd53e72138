"""The rules D and G train under: losses (with what D outputs and where the equilibrium lies),
penalties on D's gradients, and learning-rate schedules. Each is a registry entry a page can list."""
