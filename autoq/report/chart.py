"""pareto.png: the study's scatter and front with matplotlib (Agg, no pyplot state)."""
from __future__ import annotations

import io
import math

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .load import StudyData
from .style import COLOR, LABEL


def _tex(text: str) -> str:
    """Plain text for matplotlib, which reads '$...$' as math."""
    return text.replace("$", r"\$")


def draw_points(ax: Axes, d: StudyData, limits: tuple[float, float] | None) -> list:
    """The trials, the front, the seeds and FP32; returns the names' labels."""
    labels = []
    below = [p for p in d.points if limits and p.metric < limits[0]]

    def pts(kind):
        ps = [p for p in d.points if p.kind == kind and p not in below]
        return [p.size_bytes / 1e6 for p in ps], [p.metric for p in ps], ps

    for kind, style in (("pruned", dict(s=22, facecolors="none", edgecolors=COLOR["pruned"], alpha=0.6)),
                        ("infeasible", dict(s=26, marker="x", color=COLOR["infeasible"])),
                        ("searched", dict(s=26, color=COLOR["searched"], alpha=0.7))):
        x, y, _ = pts(kind)
        if x:
            ax.scatter(x, y, label=LABEL[kind], zorder=3, **style)
    if below:  # far worse trials: a triangle at the bottom edge, in their kind's colour
        floor = limits[0] + 0.012 * (limits[1] - limits[0])
        ax.scatter([p.size_bytes / 1e6 for p in below], [floor] * len(below), marker="v", s=30,
                   color=[COLOR[p.kind] for p in below], alpha=0.6, zorder=3,
                   label=f"{len(below)} worse, below the view")
    line = d.size_front()
    ax.plot([p.size_bytes / 1e6 for p in line], [p.metric for p in line], drawstyle="steps-post",
            color=COLOR["front"], lw=2, marker="o", ms=8, mfc="none", mew=2,
            label=LABEL["front"], zorder=4)
    near = [p for p in d.points if p.near and p not in below]
    if near:
        ax.scatter([p.size_bytes / 1e6 for p in near], [p.metric for p in near], s=48,
                   facecolors="none", edgecolors=COLOR["front"], linewidths=1, alpha=0.7,
                   label=LABEL["near"], zorder=4)
    faster = [p for p in d.points if p.on_front and not p.near and p not in line and p not in below]
    if faster:
        ax.scatter([p.size_bytes / 1e6 for p in faster], [p.metric for p in faster], s=64,
                   facecolors="none", edgecolors=COLOR["front"], linewidths=2,
                   label=LABEL[d.off_line_label], zorder=4)
    chosen = d.recommended()
    for p in (q for q in d.points if chosen and q.trial == chosen.trial and q not in below):
        ax.scatter([p.size_bytes / 1e6], [p.metric], s=330, facecolors="none", edgecolors=COLOR["pick"],
                   linewidths=2.5, label=f"recommended: within {d.tolerance:g} of FP32", zorder=6)
    for kind, marker, size in (("seed", "D", 70), ("fp32", "*", 260)):
        x, y, ps = pts(kind)
        if not x:
            continue
        ax.scatter(x, y, s=size, marker=marker, color=COLOR[kind], edgecolors="white",
                   linewidths=0.8, label=LABEL[kind], zorder=5)
        for xi, yi, p in zip(x, y, ps):  # seeds' names above, FP32's to its left (the right edge)
            text, where = ("FP32", dict(xytext=(-11, 0), ha="right", va="center")) if kind == "fp32" \
                else (_tex(p.seed or ""), dict(xytext=(0, 9), ha="center", va="bottom"))
            label = ax.annotate(text, (xi, yi), textcoords="offset points", fontsize=9,
                                fontweight="bold", color=COLOR[kind], zorder=6, **where,
                                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8),
                                arrowprops=dict(arrowstyle="-", color=COLOR[kind], lw=0.8, shrinkB=5))
            label.arrow_patch.set_visible(False)  # shown when place_labels sets it further out
            label.set_in_layout(False)
            labels.append(label)
    return labels


DIRECTIONS = ((0, 1, "center", "bottom"), (0, -1, "center", "top"), (1, 0, "left", "center"),
              (-1, 0, "right", "center"), (1, 1, "left", "bottom"), (-1, 1, "right", "bottom"),
              (1, -1, "left", "top"), (-1, -1, "right", "top"))
REACH = (9, 20, 34, 50, 70, 95, 125, 160)  # points from the marker; past the first, a leader line is drawn


def place_labels(labels: list, fig: Figure, ax: Axes, points: list[tuple[float, float]]) -> None:
    """Put each label where it stays inside the axes and covers no label placed before it
    and none of ``points`` (data coordinates): where it was drawn, else beside its point
    in one of eight directions, nearest first; a label set further out is joined to its
    point by a line. Where nothing is free, covering points is allowed, then leaving the
    axes (the figure laid out first, so the boxes are where they will be drawn)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pad = 5 * fig.dpi / 72  # a marker's half width, in pixels
    dots = [ax.transData.transform(p) for p in points]
    placed = []

    def fits(box, inside: bool, clear: bool) -> bool:
        """``box`` covers no placed label; inside the axes and clear of points if asked."""
        if inside and not (frame.x0 <= box.x0 and box.x1 <= frame.x1
                           and frame.y0 <= box.y0 and box.y1 <= frame.y1):
            return False
        if clear and any(box.x0 - pad < x < box.x1 + pad and box.y0 - pad < y < box.y1 + pad
                         for x, y in dots):
            return False
        return not any(box.overlaps(b) for b in placed)

    for label in labels:
        tries = [(*label.xyann, label.get_ha(), label.get_va())] + [
            (r * dx, r * dy, ha, va) for r in REACH for dx, dy, ha, va in DIRECTIONS]
        spot = next((t for rules in ((True, True), (True, False), (False, False)) for t in tries
                     if fits(_moved(label, t, renderer), *rules)), tries[0])
        placed.append(_moved(label, spot, renderer))
        if label.arrow_patch is not None:  # a line to the point, past the nearest ring
            label.arrow_patch.set_visible(tries.index(spot) > len(DIRECTIONS))


def _moved(label, spot: tuple, renderer):
    """``label`` at ``spot`` (x and y offsets in points, alignments); its text's box there
    (an annotation's own box spans its leader line too)."""
    label.xyann = spot[:2]
    label.set_horizontalalignment(spot[2])
    label.set_verticalalignment(spot[3])
    label.update_positions(renderer)
    return Text.get_window_extent(label, renderer)


def size_axes(ax: Axes, d: StudyData) -> None:
    """Log size in MB below, size relative to FP32 above; 3 or more labelled ticks."""
    xs = [p.size_bytes / 1e6 for p in d.points]
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 1.15, max(xs) * 1.15)
    decades = math.log10(max(xs) / min(xs))
    subs = (1, 2, 3, 5) if decades < 1 else (1, 2, 5) if decades < 3 else (1,)
    fp32_mb = d.fp32_size / 1e6
    top = ax.secondary_xaxis("top", functions=(lambda v: v / fp32_mb, lambda v: v * fp32_mb))
    for axis in (ax.xaxis, top.xaxis):
        axis.set_major_locator(LogLocator(subs=subs))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("model size (MB, log scale)")
    top.set_xlabel("size relative to FP32", fontsize=9)


def png(d: StudyData) -> bytes:
    fig = Figure(figsize=(9, 5.6), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    metric = _tex(d.metric_name)
    if d.points:
        limits = d.y_view()
        labels = draw_points(ax, d, limits)
        for y, label, kind in d.marks():
            ax.axhline(y, color="#999", ls="--" if kind == "limit" else ":", lw=1, label=label)
        size_axes(ax, d)
        lo, hi = limits or ax.get_ylim()
        ax.set_ylim(lo, hi + (0 if limits else 0.06 * (hi - lo)))  # room for labels at the top
        ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    else:
        ax.text(0.5, 0.5, "no completed trials yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("model size (MB)")
    better = "lower" if d.meta.direction == "minimize" else "higher"
    ax.set_ylabel(f"{metric} (search split, {better} is better)")
    scored = (f"{len(d.points)} of them scored by {metric} (fidelity front), "
              if d.meta.by_fidelity else f"{d.states['pruned']} pruned, ")
    counts = f"{d.states['complete']} completed, {scored}" if d.stored else \
        f"{len(d.points)} scored by {metric}, "
    ax.set_title(f"{_tex(d.name)}: {metric} vs size  ({counts}{len(d.front) - d.near_count} on the front"
                 + (f", {d.near_count} near it" if d.near_count else "") + ")", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    if d.points:
        shown = [(p.size_bytes / 1e6, p.metric) for p in d.points if not limits or p.metric >= limits[0]]
        place_labels(labels, fig, ax, shown)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
