"""Bar charts drawn on the server as SVG: no script, no library, nothing from another origin.

A chart is an image with a title and a description (its accessible name), bars
with their figures as tooltips, and guides across it: the capacity line and the
forecast. The page shows the same figures as a table beside it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 16, 34
BAR = "#0b4f8a"
PROJECTED = "#9a5200"
GUIDE_COLOURS = {"capacity": "#8a1010", "forecast": "#9a5200"}


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (shown for some bars only, when there are many)
    value: int
    tooltip: str
    projected: int | None = None  # a dashed outline up to what the forecast expects


@dataclass(frozen=True)
class Guide:
    """A line across the chart at `value`: `kind` is capacity or forecast."""

    label: str
    value: float
    kind: str


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    step = 10 ** max(len(str(int(top))) - 1, 0)
    while top / step > 5:
        step *= 2
    return [step * i for i in range(int(top // step) + 1)]


def bar_chart(
    chart_id: str, title: str, description: str, bars: Sequence[Bar], guides: Sequence[Guide]
) -> Markup:
    """The SVG of `bars` with `guides`, named by `title` and described by `description`."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    highest = max(
        [
            1.0,
            *(b.value for b in bars),
            *(b.projected or 0 for b in bars),
            *(g.value for g in guides),
        ]
    )
    top = highest * 1.1

    def y(value: float) -> float:
        return TOP + plot_height * (1 - value / top)

    slot = plot_width / max(len(bars), 1)
    label_every = max(1, round(len(bars) / 12))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for tick in _ticks(top):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_width}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#d8d8d8" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="axis">'
            f"{int(tick):,}</text>"
        )
    for index, bar in enumerate(bars):
        x = LEFT + index * slot + slot * 0.15
        width = slot * 0.7
        if bar.projected is not None and bar.projected > bar.value:
            parts.append(
                f'<rect x="{x:.1f}" y="{y(bar.projected):.1f}" width="{width:.1f}" '
                f'height="{y(bar.value) - y(bar.projected):.1f}" fill="none" '
                f'stroke="{PROJECTED}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            )
        parts.append(
            f'<rect x="{x:.1f}" y="{y(bar.value):.1f}" width="{width:.1f}" '
            f'height="{TOP + plot_height - y(bar.value):.1f}" fill="{BAR}">'
            f"<title>{escape(bar.tooltip)}</title></rect>"
        )
        last = len(bars) - 1
        if index == last or (index % label_every == 0 and last - index >= label_every):
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'class="axis">{escape(bar.label)}</text>'
            )
    for guide in guides:
        colour = GUIDE_COLOURS[guide.kind]
        dash = "" if guide.kind == "capacity" else ' stroke-dasharray="8 5"'
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_width}" y1="{y(guide.value):.1f}" '
            f'y2="{y(guide.value):.1f}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{LEFT + plot_width + 6}" y="{y(guide.value) + 4:.1f}" fill="{colour}" '
            f'class="guide">{escape(guide.label)}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + plot_width}" y1="{TOP + plot_height}" '
        f'y2="{TOP + plot_height}" stroke="#4a4a4a" stroke-width="1"/></svg>'
    )
    return Markup("".join(parts))
