"""Small bar charts drawn as inline SVG on the server: no script, no external asset, so the
status page works offline, behind any proxy and on Heroku as it is."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

BAR = 5  # px per hour, gap included
HEIGHT = 30
GAP = 1


def bars(
    values: Sequence[int],
    hours: Sequence[int],
    *,
    label: str,
    css_class: str,
) -> str:
    """One bar per hour, scaled to the largest value; each bar's tooltip gives its hour (UTC)
    and count, and the chart's title the total. An empty series draws a flat baseline."""
    peak = max(values, default=0)
    width = BAR * len(values)
    parts = [
        f'<svg class="chart {css_class}" width="{width}" height="{HEIGHT + 1}" '
        f'viewBox="0 0 {width} {HEIGHT + 1}" role="img" aria-label="{html.escape(label)}: '
        f'{sum(values)} in 24 h">',
        f"<title>{html.escape(label)}: {sum(values)} in 24 h, at most {peak} an hour</title>",
        f'<line x1="0" y1="{HEIGHT + 0.5}" x2="{width}" y2="{HEIGHT + 0.5}" class="base"/>',
    ]
    for index, (value, hour) in enumerate(zip(values, hours, strict=True)):
        if not value:
            continue
        tall = max(round(HEIGHT * value / peak), 1)
        start = time.strftime("%H:00", time.gmtime(hour * 3600))
        parts.append(
            f'<rect x="{index * BAR}" y="{HEIGHT - tall}" width="{BAR - GAP}" height="{tall}">'
            f"<title>{start} UTC: {value}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)
