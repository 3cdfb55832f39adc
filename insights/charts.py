"""Server-side SVG charts for the gender-balance pages: no JavaScript, no CDN.

Pure functions: figures in, SVG markup out. Every piece of text is escaped here, so the
result is marked safe. A chart is a picture of a table that the page shows next to it
(`role="img"` with a title); the table carries the numbers for screen readers and print.

Series are painted with SVG presentation attributes (`fill`, `stroke`; no `<style>` or
style="", which the Content-Security-Policy refuses), the colour of `series-i` taken from
the palette, so a category's colour is the same in every chart; the classes stay as hooks.
A hidden figure ("fewer than k") has no size to draw: it is shown as a small hatched mark
after the bar, never to scale.
"""

from collections.abc import Mapping, Sequence
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

# Colour-blind-safe palette (Okabe–Ito), dark enough against white for thin marks.
PALETTE = ("#b35806", "#0b5c8a", "#1f6b3a", "#a3366f", "#6b7280", "#7a5c00")
_ids = count(1)


def _series(i: int) -> str:
    """The class and paint of the i-th series."""
    colour = PALETTE[i % len(PALETTE)]
    return f'class="series-{i}" fill="{colour}" stroke="{colour}"'


AXIS = 'class="axis" stroke="#d5dbe3" stroke-width="1"'
HIDDEN_CELL = 'class="hidden-cell" stroke="#4a5567" stroke-width=".5"'


def _open(width: int, height: int, title: str, description: str = "") -> tuple[str, str]:
    """The opening of an accessible SVG; returns (markup, id of its title)."""
    uid = f"chart-{next(_ids)}"
    described = f' aria-describedby="{uid}-desc"' if description else ""
    markup = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui,sans-serif" font-size="12" fill="#1b2330" '
        f'aria-labelledby="{uid}-title"{described}>'
        f'<title id="{uid}-title">{escape(title)}</title>'
    )
    if description:
        markup += f'<desc id="{uid}-desc">{escape(description)}</desc>'
    return markup, uid


def _hatch(uid: str) -> str:
    return (
        f'<defs><pattern id="{uid}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#4a5567" stroke-width="2"/></pattern></defs>'
    )


def _legend(y: int, x: int, labels: Sequence[str], hidden_label: str | None, uid: str) -> str:
    parts = []
    for i, label in enumerate(labels):
        parts.append(
            f'<rect {_series(i)} x="{x}" y="{y}" width="12" height="12"/>'
            f'<text x="{x + 16}" y="{y + 10}">{escape(label)}</text>'
        )
        x += 28 + 8 * len(label)  # generous: the font and its size come from the page
    if hidden_label:
        parts.append(
            f'<rect {HIDDEN_CELL} fill="url(#{uid}-hatch)" x="{x}" y="{y}" '
            f'width="12" height="12"/><text x="{x + 16}" y="{y + 10}">{escape(hidden_label)}</text>'
        )
    return "".join(parts)


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, int | None]]],
    *,
    series: Sequence[tuple[str, str]],
    title: str,
    k: int,
    width: int = 640,
    bar_height: int = 22,
    label_width: int = 150,
) -> SafeString:
    """Horizontal stacked bars, one per row; `series` is [(key, label)] in stacking order.

    A value of None ("fewer than k") is drawn as a small hatched mark after the bar.
    """
    series = [(key, str(label)) for key, label in series]  # labels may be lazy translations
    gap = 10
    legend_height = 28
    height = legend_height + max(1, len(rows)) * (bar_height + gap) + gap
    svg, uid = _open(width, height, title)
    parts = [svg, _hatch(uid)]
    any_hidden = any(values.get(key) is None for _, values in rows for key, _ in series)
    parts.append(
        _legend(4, 4, [label for _, label in series], f"< {k}" if any_hidden else None, uid)
    )
    plot = width - label_width - 30
    largest = max((sum(values.get(key) or 0 for key, _ in series) for _, values in rows), default=0)
    scale = plot / largest if largest else 0
    y = legend_height + gap
    for label, values in rows:
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height * 0.7:.0f}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        x = float(label_width)
        hidden = []
        for i, (key, series_label) in enumerate(series):
            value = values.get(key)
            if value is None:
                hidden.append(series_label)
                continue
            if not value:
                continue
            length = value * scale
            parts.append(
                f'<rect {_series(i)} x="{x:.1f}" y="{y}" width="{length:.1f}" '
                f'height="{bar_height}"><title>{escape(series_label)}: {value}</title></rect>'
            )
            x += length
        if hidden:
            names = ", ".join(hidden)
            note = gettext("%(categories)s: fewer than %(k)s") % {"categories": names, "k": k}
            parts.append(
                f'<rect {HIDDEN_CELL} fill="url(#{uid}-hatch)" x="{x + 2:.1f}" y="{y}" '
                f'width="10" height="{bar_height}"><title>{escape(note)}</title></rect>'
            )
        y += bar_height + gap
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text above is escaped


def line_chart(
    series: Sequence[tuple[str, Sequence[float | None]]],
    labels: Sequence[str],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
    percent: bool = True,
) -> SafeString:
    """Lines over periods (x = `labels`); values are shares 0..1 when `percent`.

    A missing value (too few people to give a share) breaks the line at that period.
    """
    left, right, top, bottom = 44, 16, 30, 34
    svg, uid = _open(width, height, title)
    series = [(str(name), values) for name, values in series]  # names may be lazy translations
    labels = [str(label) for label in labels]
    names = [name for name, _ in series]
    parts = [svg, _legend(4, left, names, None, uid)]
    plot_w = width - left - right
    plot_h = height - top - bottom
    top_value = 1.0 if percent else max((v or 0 for _, vs in series for v in vs), default=0) or 1
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        y = top + plot_h * (1 - fraction)
        text = f"{fraction * 100:.0f} %" if percent else f"{top_value * fraction:.0f}"
        parts.append(
            f'<line {AXIS} x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    n = len(labels)
    step = plot_w / (n - 1) if n > 1 else 0

    def x_of(i: int) -> float:
        return left + (step * i if n > 1 else plot_w / 2)

    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{x_of(i):.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        segment: list[str] = []
        segments = []
        for i, value in enumerate(values):
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            y = top + plot_h * (1 - value / top_value)
            segment.append(f"{x_of(i):.1f},{y:.1f}")
            shown = f"{value * 100:.0f} %" if percent else f"{value:g}"
            parts.append(
                f'<circle {_series(s)} cx="{x_of(i):.1f}" cy="{y:.1f}" r="3.5">'
                f"<title>{escape(name)}, {escape(labels[i])}: {shown}</title></circle>"
            )
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) > 1:
                joined = " ".join(points)
                parts.append(
                    f'<polyline class="line series-{s}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5" points="{joined}"/>'
                )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every text above is escaped
