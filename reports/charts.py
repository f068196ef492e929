"""The dashboard's charts as plain numbers for inline SVG in the templates: no chart library, no script, no CDN.

Each function returns coordinates in a fixed viewBox (the SVG scales to its box); the templates draw them.
"""

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 600, 200, 24


@dataclass(frozen=True)
class Mark:
    label: str
    value: object
    x: float
    y: float
    width: float = 0.0
    height: float = 0.0


def _scale(values) -> float:
    top = max((float(value) for value in values), default=0.0)
    return (HEIGHT - 2 * PAD) / top if top > 0 else 0.0


def line_chart(points: list[tuple[str, object]]) -> dict:
    """A line through the values, left to right: {"points": "x,y x,y ...", "marks": [Mark], "top": max value}."""
    if not points:
        return {"points": "", "marks": [], "top": 0}
    scale = _scale(value for _label, value in points)
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    marks = [
        Mark(label=label, value=value, x=round(PAD + index * step, 1), y=round(HEIGHT - PAD - float(value) * scale, 1))
        for index, (label, value) in enumerate(points)
    ]
    return {
        "points": " ".join(f"{mark.x},{mark.y}" for mark in marks),
        "marks": marks,
        "top": max(value for _label, value in points),
    }


def bar_chart(bars: list[tuple[str, object]]) -> dict:
    """One bar per value: {"marks": [Mark with x, y, width, height], "top": max value}."""
    if not bars:
        return {"marks": [], "top": 0}
    scale = _scale(value for _label, value in bars)
    slot = (WIDTH - 2 * PAD) / len(bars)
    marks = []
    for index, (label, value) in enumerate(bars):
        height = round(float(value) * scale, 1)
        marks.append(Mark(label=label, value=value, x=round(PAD + index * slot + slot * 0.15, 1),
                          y=round(HEIGHT - PAD - height, 1), width=round(slot * 0.7, 1), height=height))
    return {"marks": marks, "top": max(value for _label, value in bars)}


def heat_alpha(share: float | None) -> str:
    """The heat map cell's opacity for a share 0..1 (a month still to come is blank): retention seldom passes
    50 %, so the colour saturates there (light enough for the text on it)."""
    if share is None:
        return "0"
    return f"{min(0.7, 0.08 + share * 1.8):.2f}"


def stacked_bar_chart(columns: list[tuple[str, list[tuple[str, object]]]], *, styles: dict) -> dict:
    """One bar per column, its parts stacked bottom up in the order given; `styles` names and colours each part's
    key ({key: (name, colour)}). Returns {"bars": [{"label", "total", "middle", "parts": [{"key", "name",
    "colour", "value", "x", "y", "width", "height"}]}], "top": the tallest total}. A part of 0 draws nothing."""
    if not columns:
        return {"bars": [], "top": 0}
    totals = [sum(value for _key, value in parts) for _label, parts in columns]
    scale = _scale(totals)
    slot = (WIDTH - 2 * PAD) / len(columns)
    bars = []
    for index, ((label, parts), total) in enumerate(zip(columns, totals)):
        x, width = round(PAD + index * slot + slot * 0.15, 1), round(slot * 0.7, 1)
        base, drawn = float(HEIGHT - PAD), []
        for key, value in parts:
            height = float(value) * scale
            if height > 0:
                name, colour = styles[key]
                drawn.append({"key": key, "name": name, "colour": colour, "value": value, "x": x,
                              "y": round(base - height, 1), "width": width, "height": round(height, 1)})
            base -= height
        bars.append({"label": label, "total": total, "middle": round(x + width / 2, 1), "parts": drawn})
    return {"bars": bars, "top": max(totals)}
