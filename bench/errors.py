"""Errors a user can act on. The CLI turns them into a message and an exit code, never a traceback."""

EXIT_OK = 0
EXIT_FAILED_CELLS = 3  # the run finished, but some cells are `failed`
EXIT_BAD_INPUT = 2


class BenchError(Exception):
    """A problem with the user's input or environment: the message says what and where."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(BenchError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


class DataError(BenchError):
    pass


class ResultsError(BenchError):
    pass


class Unsupported(Exception):
    """Raised by a step or runtime that cannot run here; the cell becomes `unsupported` with this reason."""
