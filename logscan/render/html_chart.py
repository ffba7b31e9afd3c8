"""The chart of the HTML report: failed requests per cause and time window as stacked bars, in
inline SVG (no script, no external resource), with axes, a tooltip per segment and a colour per
cause that stays the same from one run to the next."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta

import polars as pl

from logscan.render.common import category_title, plural, when
from logscan.results import ScanResult
from logscan.sanitize import html_text as text

# The chart's drawing area in SVG user units; a bar is at least one unit wide, so more windows
# than this are summed into fewer, wider bars.
CHART_WIDTH = 960
CHART_HEIGHT = 300
_PLOT_LEFT, _PLOT_RIGHT, _PLOT_TOP, _PLOT_BOTTOM = 56, 16, 12, 40
PLOT_WIDTH = CHART_WIDTH - _PLOT_LEFT - _PLOT_RIGHT
_PLOT_HEIGHT = CHART_HEIGHT - _PLOT_TOP - _PLOT_BOTTOM
MAX_BARS = PLOT_WIDTH
_MAX_BAR_WIDTH = 80
_TIME_TICKS = 6

# The built-in categories keep these colours whatever else a rule pack adds (Okabe-Ito, told
# apart with the usual colour blindnesses); any other category gets a hue from its id, so a
# colour never moves from one night's report to the next.
BUILT_IN_COLOURS = {
    "request_format": "#0072b2",
    "invalid_model_name": "#e69f00",
    "unsupported_capability": "#009e73",
    "context_or_options": "#cc79a7",
    "rate_limit": "#d55e00",
    "auth": "#56b4e9",
    "server_misconfig": "#f0e442",
    "unclassified": "#8c8c8c",
}


def category_colour(category_id: str) -> str:
    known = BUILT_IN_COLOURS.get(category_id)
    if known:
        return known
    hue = zlib.crc32(category_id.encode("utf-8", "surrogatepass")) % 360
    return f"hsl({hue}, 55%, 50%)"


def swatch(category_id: str) -> str:
    return f'<span class="swatch" style="background:{category_colour(category_id)}"></span>'


def window_counts(result: ScanResult) -> pl.DataFrame:
    """Ollama's failed requests per timed window and category (long form), and the windows
    that hold none, as rows with a null category and 0 requests."""
    return (
        result.summary.windows.filter(pl.col("ollama") & pl.col("window_start").is_not_null())
        .group_by("window_start", "window_end", "category")
        .agg(pl.col("requests").sum())
        .sort("window_start", "category", nulls_last=True)
    )


def chart(result: ScanResult, counts: pl.DataFrame) -> str:
    """An inline SVG of stacked bars: one bar per window (or per run of windows when there are
    more than ``MAX_BARS``), one segment per cause, each with a tooltip."""
    categories = result.summary.by_category.get_column("category").to_list()
    start: datetime = counts.get_column("window_start").min()  # type: ignore[assignment]
    end: datetime = counts.get_column("window_end").max()  # type: ignore[assignment]
    window = min(counts.get_column("window_end") - counts.get_column("window_start"))
    slots = max(1, math.ceil((end - start) / window))
    per_bar = math.ceil(slots / MAX_BARS)
    bar_span = window * per_bar
    bars = (
        counts.filter(pl.col("category").is_not_null())
        .with_columns(bar=((pl.col("window_start") - start) / bar_span).floor().cast(pl.Int64))
        .group_by("bar", "category")
        .agg(pl.col("requests").sum())
    )
    stacks: dict[int, dict[str, int]] = {}
    for bar, category, requests in bars.iter_rows():
        stacks.setdefault(bar, {})[category] = requests
    highest = max((sum(stack.values()) for stack in stacks.values()), default=0)
    top, step = _count_scale(highest)
    bar_count = math.ceil((end - start) / bar_span)
    slot_width = PLOT_WIDTH / bar_count
    width = min(_MAX_BAR_WIDTH, max(1.0, slot_width * (0.85 if slot_width >= 4 else 1.0)))

    def y(count: float) -> float:
        return _PLOT_TOP + _PLOT_HEIGHT * (1 - count / top)

    shapes = [*_count_axis(top, step, y), *_time_axis(start, end)]
    for bar, stack in sorted(stacks.items()):
        x = _PLOT_LEFT + slot_width * bar + (slot_width - width) / 2
        bar_start = start + bar_span * bar
        span = (
            f"{when(bar_start, with_seconds=False)} .. {when(bar_start + bar_span, with_seconds=False)} UTC"
        )
        below = 0
        for category in sorted(
            stack, key=lambda c: (categories.index(c) if c in categories else len(categories), c)
        ):
            requests = stack[category]
            tip = f"{span}: {category_title(result, category)} ({category}): {plural(requests, 'request')}"
            shapes.append(
                f'<rect class="bar" data-category="{text(category)}" data-requests="{requests}"'
                f' x="{x:.2f}" y="{y(below + requests):.2f}" width="{width:.2f}"'
                f' height="{y(below) - y(below + requests):.2f}" fill="{category_colour(category)}">'
                f"<title>{text(tip)}</title></rect>"
            )
            below += requests
    label = f"Failed requests per {'window' if per_bar == 1 else f'{per_bar} windows'}, by cause"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" width="100%"'
        f' role="img" aria-label="{text(label)}">\n' + "\n".join(shapes) + "\n</svg>"
    )
    legend = "".join(f"<li>{swatch(c)}{text(c)}</li>" for c in categories)
    caption = (
        f"<p>Each bar sums {per_bar:,} consecutive windows: there are more windows than room for bars.</p>"
        if per_bar > 1
        else ""
    )
    return f'<figure class="chart">{svg}<ul class="legend">{legend}</ul>{caption}</figure>'


def _count_scale(highest: int) -> tuple[int, int]:
    """The top of the count axis and the step between its ticks: 1, 2 or 5 times a power of
    ten, about four ticks."""
    if highest <= 4:
        return max(highest, 1), 1
    rough = highest / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return math.ceil(highest / step) * step, step


def _count_axis(top: int, step: int, y: Callable[[float], float]) -> list[str]:
    left, right = _PLOT_LEFT, _PLOT_LEFT + PLOT_WIDTH
    out = []
    for count in range(0, top + 1, step):
        out.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y(count):.2f}" y2="{y(count):.2f}"/>')
        out.append(f'<text x="{left - 6}" y="{y(count) + 4:.2f}" text-anchor="end">{count:,}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{_PLOT_TOP}" y2="{y(0):.2f}"/>')
    out.append(
        f'<text x="12" y="{_PLOT_TOP + _PLOT_HEIGHT / 2:.0f}" text-anchor="middle"'
        f' transform="rotate(-90 12 {_PLOT_TOP + _PLOT_HEIGHT / 2:.0f})">requests</text>'
    )
    return out


def _time_axis(start: datetime, end: datetime) -> list[str]:
    bottom = _PLOT_TOP + _PLOT_HEIGHT
    span = end - start
    pattern = "%H:%M" if span <= timedelta(days=1) and start.date() == end.date() else "%m-%d %H:%M"
    if span < timedelta(minutes=_TIME_TICKS):
        pattern = "%H:%M:%S"
    out = [
        f'<line class="axis" x1="{_PLOT_LEFT}" x2="{_PLOT_LEFT + PLOT_WIDTH}" y1="{bottom}" y2="{bottom}"/>'
    ]
    for tick in range(_TIME_TICKS + 1):
        x = _PLOT_LEFT + PLOT_WIDTH * tick / _TIME_TICKS
        moment = start + span * tick / _TIME_TICKS
        anchor = "start" if tick == 0 else "end" if tick == _TIME_TICKS else "middle"
        out.append(f'<line class="axis" x1="{x:.2f}" x2="{x:.2f}" y1="{bottom}" y2="{bottom + 4}"/>')
        out.append(
            f'<text class="time" x="{x:.2f}" y="{bottom + 16}" text-anchor="{anchor}">'
            f"{moment.strftime(pattern)}</text>"
        )
    out.append(
        f'<text x="{_PLOT_LEFT + PLOT_WIDTH / 2:.0f}" y="{bottom + 34}" text-anchor="middle">'
        f"UTC, {start.strftime('%Y-%m-%d %H:%M')} .. {end.strftime('%Y-%m-%d %H:%M')}</text>"
    )
    return out
