"""Charts drawn on the server as inline SVG (no script, no CDN, nothing vendored): a bar per
day. Each chart is an image with a title and a description saying what it shows and its
numbers in words; the page puts the same numbers in a table beside it, the text alternative
for anyone who does not see the chart. Colours come from the page's CSS (`currentColor`)."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

WIDTH = 600
HEIGHT = 160
PAD = 24


def bar_chart(
    key: str, title: str, description: str, days: list[date], values: list[int]
) -> Markup:
    """An SVG bar chart of `values` (one per day in `days`), labelled for assistive
    technology (`role="img"` with `<title>` and `<desc>`)."""
    top = max(values, default=0)
    scale = (HEIGHT - 2 * PAD) / top if top else 0.0
    step = (WIDTH - 2 * PAD) / max(len(values), 1)
    bars = []
    for n, (day, value) in enumerate(zip(days, values, strict=True)):
        h = value * scale
        x = PAD + n * step
        y = HEIGHT - PAD - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{day.isoformat()}: {value}</title></rect>"
        )
    summary = (
        f"{description}, {days[0].isoformat()} to {days[-1].isoformat()}: "
        f"total {sum(values)}, most {top} in a day, {values[-1]} today"
        if days
        else description
    )
    first = escape(days[0].strftime("%d %b")) if days else ""
    last = escape(days[-1].strftime("%d %b")) if days else ""
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-{key}-title chart-{key}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-{key}-title">{escape(title)}</title>'
        f'<desc id="chart-{key}-desc">{escape(summary)}</desc>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        f'stroke="currentColor" stroke-width="1"/>'
        f'<text x="{PAD}" y="{PAD - 8}" font-size="12" fill="currentColor">{top}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="12" fill="currentColor">{first}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="12" fill="currentColor" '
        f'text-anchor="end">{last}</text>'
        f'<g class="bars" fill="currentColor">{"".join(bars)}</g></svg>'
    )
