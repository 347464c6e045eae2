"""Runs on disk and as processes: the run store, the launcher and queue, the trainer, events."""
