"""Errors of the training engine."""


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, …); the message says where."""


class TrainingStopped(KeyboardInterrupt):
    """Training stopped on a signal (Ctrl-C, or SIGTERM from a scheduler) after writing ``latest.pt``;
    the CLI exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
