"""Synthetic street-sign characters: the demo data set and the pre-training set."""
