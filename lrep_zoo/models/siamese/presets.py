"""Registered siamese presets (files and card: `applications/<name>/`).

Nothing registered yet: `siamese_yaleb` is registered once its weights are measured.
"""
