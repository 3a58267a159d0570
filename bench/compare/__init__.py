"""`bench compare` and `bench baseline`: two measurements of one suite (run directories or baseline
files) compared cell by cell.

- baseline.py: the committable baseline file (snapshot of a run, write, load, bit packing).
- stats.py: the statistics (Mann-Whitney, bootstrap ratio CI, McNemar, Wilcoxon, paired bootstrap, Yuen,
  Holm), pure functions.
- quality.py: the paired test of an accuracy cell's primary metric per task kind.
- judge.py: verdicts per cell and metric, one comparison function per scenario, the exit code.
- comparison.py: one whole comparison (gate, verdicts, problems, environments) for the CLI.
- bench/report/compare_md.py: compare.md and the formatters shared with the terminal table.
"""

from bench.compare.baseline import (
    BASELINE_KIND,
    BASELINE_SCHEMA,
    load_snapshot,
    pack_bits,
    snapshot_from_run,
    unpack_bits,
    write_baseline,
)
from bench.compare.comparison import (
    Comparison,
    compare,
    environment_notes,
    gate_for,
    snapshot_differences,
)
from bench.compare.judge import (
    EXIT_NO_REGRESSION,
    EXIT_REGRESSION,
    EXIT_UNUSABLE,
    MIN_PROCESSES,
    SCENARIO_COMPARISONS,
    MetricChange,
    compare_accuracy,
    compare_offline,
    compare_quality,
    compare_server,
    compare_snapshots,
    correct_for_multiplicity,
    exit_code,
    family_size,
    verdict,
)
from bench.compare.stats import (
    TRIM,
    bootstrap_ratio_ci,
    holm_adjusted,
    mann_whitney_p,
    mcnemar_p,
    paired_bootstrap_p,
    wilcoxon_p,
    yuen_log_test,
    yuen_parts,
)
from bench.config import Gate
from bench.report.compare_md import format_change, format_detectable, format_p, format_value, markdown

__all__ = [
    "BASELINE_KIND", "BASELINE_SCHEMA", "EXIT_NO_REGRESSION", "EXIT_REGRESSION", "EXIT_UNUSABLE", "MIN_PROCESSES",
    "SCENARIO_COMPARISONS", "TRIM", "Comparison", "Gate", "MetricChange", "bootstrap_ratio_ci", "compare",
    "compare_accuracy", "compare_offline", "compare_quality", "compare_server", "compare_snapshots", "correct_for_multiplicity",
    "environment_notes", "exit_code", "family_size", "format_change", "format_detectable", "format_p",
    "format_value", "gate_for", "holm_adjusted", "load_snapshot", "mann_whitney_p", "markdown", "mcnemar_p",
    "pack_bits", "paired_bootstrap_p", "snapshot_differences", "snapshot_from_run", "unpack_bits", "verdict", "wilcoxon_p", "write_baseline",
    "yuen_log_test", "yuen_parts",
]
