"""Server-rendered SVG charts: geometry here, markup in templates/producer/_charts.html.

No script and no style attributes (the CSP forbids both); colours come from classes in
style.css. Each chart is followed on the page by a table holding the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Chart:
    width: int
    height: int
    title: str
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    gridlines: list[float] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, name)


def _nice_max(value: float) -> float:
    """A round axis maximum at or above value: 1, 2, 5 × 10^n."""
    if value <= 0:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def column_chart(
    title: str,
    categories: list[str],
    series: list[tuple[str, str, list[float]]],
    *,
    width: int = 640,
    height: int = 260,
) -> Chart:
    """Vertical bars, one group per category, one bar per series (name, css class, values)."""
    left, right, top, bottom = 48, 8, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    chart = Chart(width, height, title, legend=[(css, name) for name, css, _ in series])
    peak = _nice_max(max((v for _, _, values in series for v in values), default=0))
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        chart.gridlines.append(round(y, 1))
        chart.labels.append(Label(left - 6, y + 4, f"{value:g}", "end"))
    if not categories:
        return chart
    group_w = plot_w / len(categories)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for index, category in enumerate(categories):
        gx = left + index * group_w + group_w * 0.1
        for s_index, (name, css, values) in enumerate(series):
            value = values[index]
            h = plot_h * value / peak
            chart.bars.append(
                Bar(
                    round(gx + s_index * bar_w, 1),
                    round(top + plot_h - h, 1),
                    round(bar_w, 1),
                    round(h, 1),
                    css,
                    f"{category}: {name} {value:g}",
                )
            )
        chart.labels.append(Label(round(gx + group_w * 0.4, 1), height - bottom + 16, category))
    return chart


def bar_list_chart(
    title: str, rows: list[tuple[str, float]], *, width: int = 640, css: str = "series-a"
) -> Chart:
    """Horizontal bars, one per row (label, value), largest first as given."""
    row_h, left, right, top = 24, 180, 48, 4
    height = top * 2 + row_h * max(len(rows), 1)
    chart = Chart(width, height, title)
    peak = max((value for _, value in rows), default=0) or 1
    plot_w = width - left - right
    for index, (label, value) in enumerate(rows):
        y = top + index * row_h
        w = plot_w * value / peak
        chart.bars.append(Bar(left, y + 3, round(w, 1), row_h - 6, css, f"{label}: {value:g}"))
        chart.labels.append(Label(left - 6, y + row_h - 8, label[:28], "end"))
        chart.labels.append(Label(round(left + w + 4, 1), y + row_h - 8, f"{value:g}", "start"))
    return chart
