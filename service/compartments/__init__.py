"""Compartments (who may read which tips) and their members."""
