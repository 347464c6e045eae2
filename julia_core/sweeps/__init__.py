"""Sweeps: searches over a recipe's options with Optuna, each trial an ordinary run."""
