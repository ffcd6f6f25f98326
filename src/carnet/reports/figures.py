"""The reports' figures with matplotlib (Agg backend: no display, safe in a worker), as PNG and
SVG. Each figure says what it drew (curves, at-risk rows, bars) so tests can check it."""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING

from carnet.analysis import KaplanMeierResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000")
RESPONSE_COLOURS = {"CR": "#1e7b34", "PR": "#6aa84f", "SD": "#f1c232", "PD": "#cc0000"}
RESPONSE_COLOURS |= {"NE": "#999999", "NON-CR/NON-PD": "#f6b26b"}


@functools.cache
def _pyplot() -> ModuleType:
    """Return pyplot, imported with the first figure: matplotlib takes half a second to import,
    and every process that loads the URLs (the server, `carnet demo`, each test worker) imports
    this module, most of them to draw nothing."""
    import matplotlib

    matplotlib.use("Agg")
    # Fixed ids in the SVG: the same data give the same file.
    matplotlib.rcParams["svg.hashsalt"] = "carnet"
    import matplotlib.pyplot

    return matplotlib.pyplot


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its name, PNG and SVG, and what it holds.

    The SVG is drawn when first asked for: the pages and the PDF show the PNG, and drawing a
    10,000-patient curve's censoring marks as SVG paths took seconds no report needed."""

    name: str
    title: str
    png: bytes
    drawn: MplFigure = field(repr=False, compare=False)
    curves: int = 0
    at_risk_rows: int = 0
    bars: int = 0

    @cached_property
    def svg(self) -> str:
        svg = io.StringIO()
        # Fixed metadata: the same data give the same text.
        self.drawn.savefig(svg, format="svg", metadata={"Date": None})
        return svg.getvalue()

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _finish(figure: MplFigure, name: str, title: str, **counts: int) -> Figure:
    plt = _pyplot()
    png = io.BytesIO()
    # Fixed metadata: the same data give the same bytes.
    figure.savefig(png, format="png", dpi=110, metadata={"Software": None})
    # Out of pyplot's registry (nothing keeps it open); the figure itself is kept for the SVG.
    plt.close(figure)
    return Figure(name, title, png.getvalue(), figure, **counts)


def kaplan_meier_figure(
    result: KaplanMeierResult, *, name: str, title: str, ticks: Sequence[float], unit: str
) -> Figure:
    """Return the Kaplan-Meier curves (one per group) with the number at risk under them."""
    plt = _pyplot()
    curves = result.curves
    figure = plt.figure(figsize=(8, 5.2 + 0.25 * len(curves)))
    grid = figure.add_gridspec(2, 1, height_ratios=[5, 0.6 + 0.35 * len(curves)], hspace=0.35)
    axes = figure.add_subplot(grid[0])
    table = figure.add_subplot(grid[1], sharex=axes)
    for index, curve in enumerate(curves):
        colour = COLOURS[index % len(COLOURS)]
        steps = curve.table
        times = [0.0, *steps["time"].to_list()]
        survival = [1.0, *steps["survival"].to_list()]
        label = f"{curve.group or 'All'} (n={curve.subjects}, events={curve.events})"
        axes.step(times, survival, where="post", color=colour, label=label)
        censored = steps.filter(steps["censored"] > 0)
        axes.plot(
            censored["time"].to_list(),
            censored["survival"].to_list(),
            "|",
            color=colour,
            markersize=6,
        )
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("Survival probability")
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize=8)
    axes.grid(alpha=0.3)
    table.set_xlabel(f"Time from randomisation ({unit})")
    table.set_yticks(range(len(curves)))
    table.set_yticklabels([curve.group or "All" for curve in curves], fontsize=8)
    table.set_ylim(-0.5, len(curves) - 0.5)
    table.invert_yaxis()
    table.tick_params(left=False)
    for spine in ("top", "right", "left"):
        table.spines[spine].set_visible(False)
    table.set_title("Number at risk", fontsize=8, loc="left")
    for index, curve in enumerate(curves):
        at = curve.at_times
        for time, at_risk in zip(at["time"].to_list(), at["at_risk"].to_list(), strict=True):
            table.text(time, index, str(at_risk), ha="center", va="center", fontsize=8)
    axes.set_xlim(0, max(ticks) if ticks else None)
    table.set_xticks(list(ticks))
    plt.setp(axes.get_xticklabels(), visible=False)
    return _finish(figure, name, title, curves=len(curves), at_risk_rows=len(curves))


def forest_figure(
    rows: Sequence[tuple[str, float, float, float]], *, name: str, title: str, reference: str
) -> Figure:
    """Return a forest plot: one hazard ratio with its interval per subgroup, log scale."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.38 * max(1, len(rows))))
    for index, (label, ratio, lower, upper) in enumerate(rows):
        axes.plot([lower, upper], [index, index], color="#333333")
        axes.plot([ratio], [index], "s", color=COLOURS[0])
        axes.text(
            -0.02,
            index,
            label,
            transform=axes.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
        )
    axes.axvline(1.0, color="#999999", linestyle="--")
    axes.set_xscale("log")
    axes.set_yticks([])
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.invert_yaxis()
    axes.set_xlabel(f"Hazard ratio (log scale; < 1 favours the arm against {reference})")
    axes.set_title(title)
    figure.subplots_adjust(left=0.35)
    return _finish(figure, name, title, bars=len(rows))


def waterfall_figure(rows: Sequence[tuple[str, float, str]], *, name: str, title: str) -> Figure:
    """Return the best percent change of the sum of diameters per patient, sorted, coloured by
    best overall response (the -30% and +20% RECIST thresholds drawn)."""
    plt = _pyplot()
    ordered = sorted(rows, key=lambda row: -row[1])
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.bar(
        range(len(ordered)),
        [row[1] for row in ordered],
        color=[RESPONSE_COLOURS.get(row[2], "#999999") for row in ordered],
    )
    axes.axhline(20, color="#cc0000", linestyle=":", linewidth=1)
    axes.axhline(-30, color="#1e7b34", linestyle=":", linewidth=1)
    axes.set_ylabel("Best change from baseline (%)")
    axes.set_xticks([])
    axes.set_title(title)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=colour)
        for key, colour in RESPONSE_COLOURS.items()
        if any(row[2] == key for row in ordered)
    ]
    labels = [key for key in RESPONSE_COLOURS if any(row[2] == key for row in ordered)]
    if handles:
        axes.legend(handles, labels, fontsize=8, loc="upper right")
    return _finish(figure, name, title, bars=len(ordered))


def spider_figure(
    rows: Sequence[tuple[str, list[tuple[int, float]], str]], *, name: str, title: str
) -> Figure:
    """Return one line per patient: the percent change of the sum of target diameters from
    baseline at each assessment (day 0 is 0%), coloured by best overall response, with the
    -30% and +20% RECIST thresholds."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4))
    drawn = set()
    for subject, points, response in rows:
        colour = RESPONSE_COLOURS.get(response, "#999999")
        days = [0, *[day for day, _change in points]]
        changes = [0.0, *[change for _day, change in points]]
        label = response if response not in drawn else None
        drawn.add(response)
        # The line's id in the SVG names the patient (what a reader, and the tests, count).
        axes.plot(
            days,
            changes,
            marker="o",
            markersize=3,
            linewidth=1,
            color=colour,
            label=label,
            gid=f"patient-{subject}",
        )
    axes.axhline(20, color="#cc0000", linestyle=":", linewidth=1)
    axes.axhline(-30, color="#1e7b34", linestyle=":", linewidth=1)
    axes.axhline(0, color="#999999", linewidth=0.5)
    axes.set_xlabel("Days from randomisation (or inclusion)")
    axes.set_ylabel("Change from baseline (%)")
    axes.set_title(title)
    if rows:
        handles, labels = axes.get_legend_handles_labels()
        order = [key for key in RESPONSE_COLOURS if key in labels]
        axes.legend(
            [handles[labels.index(key)] for key in order], order, fontsize=8, loc="upper right"
        )
    return _finish(figure, name, title, curves=len(rows))


def swimmer_figure(
    rows: Sequence[tuple[str, int, bool, list[tuple[int, str]]]], *, name: str, title: str
) -> Figure:
    """Return one lane per patient: days on treatment (an arrow while ongoing) and the
    responses at each assessment."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 1 + 0.22 * max(1, len(rows))))
    for index, (_subject, days, ongoing, responses) in enumerate(rows):
        axes.barh(index, days, color="#bdd7ee", height=0.6)
        if ongoing:
            axes.annotate(
                "", xy=(days + 8, index), xytext=(days, index), arrowprops={"arrowstyle": "->"}
            )
        for day, response in responses:
            axes.plot(
                day, index, "o", markersize=4, color=RESPONSE_COLOURS.get(response, "#999999")
            )
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([row[0] for row in rows], fontsize=6)
    axes.invert_yaxis()
    axes.set_xlabel("Days from the first dose")
    axes.set_title(title)
    return _finish(figure, name, title, bars=len(rows))


def accrual_figure(
    by_site: dict[str, list[date]], *, target: int | None, name: str, title: str
) -> Figure:
    """Return cumulative inclusions over time, one line per site and the total, with the target."""
    plt = _pyplot()
    import matplotlib.dates as mdates

    figure, axes = plt.subplots(figsize=(8, 4))
    every = sorted(day for days in by_site.values() for day in days)
    curves = 0
    for index, (site, days) in enumerate(sorted(by_site.items())):
        ordered = mdates.date2num(sorted(days))
        axes.step(
            ordered, range(1, len(ordered) + 1), where="post", color=COLOURS[index % 5], label=site
        )
        curves += 1
    if every:
        axes.step(
            mdates.date2num(every),
            range(1, len(every) + 1),
            where="post",
            color="black",
            label="Total",
        )
        curves += 1
    if target:
        axes.axhline(target, color="#cc0000", linestyle="--", label=f"Target {target}")
    axes.set_ylabel("Patients included")
    axes.set_title(title)
    axes.legend(fontsize=8, loc="upper left")
    axes.xaxis_date()
    figure.autofmt_xdate()
    return _finish(figure, name, title, curves=curves)
