"""The drawing habits every chart of the report shares (matplotlib, Agg, inline SVG; no JavaScript, no
network): one colour per variant fixed by the run's variant order, a hover tooltip (an SVG <title>) on
every data point, legends below the plot area (never over the data), text kept as SVG <text>.

Ids in the SVG: each data point is a group `pt-<chart>-<n>` and each legend `legend-<chart>`, so a test
can find them (tests/test_browser.py checks that no legend covers a point and no two texts overlap).
"""

from __future__ import annotations

import html
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

matplotlib.rcParams["svg.hashsalt"] = "bench"  # stable element ids: the same record renders the same file
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, selectable, measurable in a browser
matplotlib.rcParams["font.size"] = 9

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # one per batch size, in increasing order


def variant_colours(variants: list[str]) -> dict[str, str]:
    """One colour per variant in the run's order (tab10, or tab20 darks then lights past ten): every
    chart of a report uses this one mapping, so a variant has the same colour everywhere."""
    if len(variants) <= 10:
        palette = [plt.get_cmap("tab10")(i) for i in range(10)]
    else:
        tab20 = plt.get_cmap("tab20")
        palette = [tab20(i) for i in range(0, 20, 2)] + [tab20(i) for i in range(1, 20, 2)]
    return {v: to_hex(palette[i % len(palette)]) for i, v in enumerate(variants)}


def run_variants(run) -> list[str]:
    """The suite's variants in its order, then any other variant with a cell (older records)."""
    names = [v["name"] for v in run.suite.get("variants", []) if isinstance(v, dict) and v.get("name")]
    for cell in run.cells:
        if cell.variant not in names:
            names.append(cell.variant)
    return names


class Chart:
    """A figure with one axes, the tooltips of its points and a legend below the axes."""

    def __init__(self, name: str, size: tuple[float, float] = (5.6, 3.6)):
        self.name = name
        self.fig, self.ax = plt.subplots(figsize=size, dpi=100)
        self.tooltips: dict[str, str] = {}
        self.ax.grid(True, which="major", alpha=0.25)

    def point(self, x: float, y: float, tooltip: str, **style) -> None:
        """One data point with its hover text (variant, setting, figures)."""
        gid = f"pt-{self.name}-{len(self.tooltips)}"
        self.ax.scatter([x], [y], gid=gid, zorder=3, **style)
        self.tooltips[gid] = tooltip

    def line_label(self, text: str, value: float, axis: str, colour: str) -> None:
        """A reference line (SLO, quality floor) across the plot, its label outside the plot area: at the
        right end of a horizontal line, above the top of a vertical one."""
        if axis == "y":
            self.ax.axhline(value, color=colour, linewidth=1.1, linestyle="--", zorder=2)
            self.ax.annotate(text, (1, value), xycoords=("axes fraction", "data"), xytext=(4, 0),
                             textcoords="offset points", va="center", ha="left", fontsize=8, color=colour)
        else:
            self.ax.axvline(value, color=colour, linewidth=1.1, linestyle="--", zorder=2)
            self.ax.annotate(text, (value, 1), xycoords=("data", "axes fraction"), xytext=(0, 4),
                             textcoords="offset points", va="bottom", ha="center", fontsize=8, color=colour)

    def log_axis(self, axis: str) -> None:
        """A log scale ticked at 1, 2 and 5 per decade, labelled as plain numbers (no overlapping minors)."""
        getattr(self.ax, f"set_{axis}scale")("log")
        target = self.ax.xaxis if axis == "x" else self.ax.yaxis
        target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        target.set_minor_formatter(NullFormatter())

    def legend_below(self, handles: list, labels: list[str], columns: int = 3, keys: int = 0) -> None:
        """The legend under the axes and their labels, never over the data: the first `len(handles) - keys`
        entries (the variants) fill the first columns, the last `keys` entries (marks, lines) the last one."""
        if keys and columns > 1:
            variants, marks = list(zip(handles[:-keys], labels[:-keys], strict=True)), list(zip(handles[-keys:], labels[-keys:], strict=True))
            rows = max(math.ceil(len(variants) / (columns - 1)), len(marks))
            blank = (Line2D([], [], linestyle="none"), "")
            entries = variants + [blank] * (rows * (columns - 1) - len(variants)) + marks + [blank] * (rows - len(marks))
            handles, labels = [h for h, _ in entries], [label for _, label in entries]
        self.fig.canvas.draw()
        box = self.ax.get_tightbbox(self.fig.canvas.get_renderer()).transformed(self.fig.transFigure.inverted())
        legend = self.fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(box.x0, box.y0 - 0.01),
                                 ncol=max(1, min(columns, len(labels))), fontsize=8, frameon=False,
                                 handlelength=1.8, columnspacing=1.2)
        legend.set_gid(f"legend-{self.name}")

    def svg(self) -> str:
        """The figure as inline SVG (no XML prolog), each point's group carrying its <title> tooltip."""
        buf = io.StringIO()
        self.fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(self.fig)
        text = buf.getvalue()
        text = text[text.index("<svg"):]
        for gid, tip in self.tooltips.items():
            text = text.replace(f'<g id="{gid}">', f'<g id="{gid}" class="pt"><title>{html.escape(tip)}</title>', 1)
        return text
