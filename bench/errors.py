"""Errors a user can act on. The CLI turns them into a message and an exit code, never a traceback.

BenchError and ConfigError are defined in bench.config (the bottom of bench, which imports nothing of
bench) and re-exported here; import every error from this module.
"""

from bench.config import EXIT_BAD_INPUT, BenchError, ConfigError

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED_CELLS",
    "EXIT_OK",
    "BenchError",
    "ConfigError",
    "DataError",
    "ResultsError",
    "Unsupported",
]

EXIT_OK = 0
EXIT_FAILED_CELLS = 3  # the run finished, but some cells are `failed`


class DataError(BenchError):
    pass


class ResultsError(BenchError):
    pass


class Unsupported(Exception):
    """Raised by a step or runtime that cannot run here; the cell becomes `unsupported` with this reason."""


def rows_have(n: int, verb: str = "have") -> str:
    """"1 row has" / "3 rows have" (verb "have"), "1 row" / "3 rows" (verb "")."""
    words = ("row has", "rows have") if verb == "have" else ("row", "rows")
    return f"{n} {words[0] if n == 1 else words[1]}"
