"""Class probabilities from trained runs: inference, ensembles, submissions, pseudo-labels."""
