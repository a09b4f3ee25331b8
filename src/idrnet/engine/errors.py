"""Errors of the training engine."""


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, …); the message says where."""
