"""report.html: a plotly chart of the study (plotly.js embedded, works offline) and the front.

Every string from a model or a user is escaped, in the page and in plotly's hover and
legend text alike (plotly renders a few tags in those).
"""
from __future__ import annotations

import math

from html import escape

import plotly.graph_objects as go

from ..fidelity import distance_label
from .load import Point, StudyData
from .style import COLOR, LABEL

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: 600; } dd { margin: 0; }
table { border-collapse: collapse; font-size: .92em; }
th, td { padding: .3em .8em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.tag { color: #a65400; } .note { color: #666; font-size: .9em; }
"""


def _num(v, fmt: str = ".5g") -> str:
    return "" if v is None else format(v, fmt)


def hover(p: Point, d: StudyData) -> str:
    name = escape(d.metric_name)
    head = f"<b>trial {p.trial}</b>" + (f" ({escape(p.seed)})" if p.seed else "")
    lines = [head, f"{'partial ' if p.kind == 'pruned' else ''}{name}: {p.metric:.5g}"
             + (" (stopped early)" if p.kind == "pruned" else "")]
    if p.confirm is not None:
        lines.append(f"confirm {name}: {p.confirm:.5g}"
                     + (f" ({escape(p.confirm_delta)} on FP32's, 95%)" if p.confirm_delta else ""))
    lines.append(f"size: {p.size_bytes / 1e6:.4g} MB ({d.ratio(p.size_bytes):.3f} x FP32)")
    if p.latency is not None:
        lines.append(f"time: {p.latency:.3f} x FP32 (deployed)")
    if p.on_front:
        lines.append(f"within {d.meta.front_margin:g} of the Pareto front" if p.near
                     else "on the Pareto front")
    if p.settings:
        lines += [""] + [escape(s) for s in p.settings]
    return "<br>".join(lines)


def _scatter(points: list[Point], d: StudyData, name: str, **kw) -> go.Scatter:
    return go.Scatter(x=[p.size_bytes / 1e6 for p in points], y=[p.metric for p in points],
                      name=name, hovertext=[hover(p, d) for p in points], hoverinfo="text", **kw)


def figure(d: StudyData) -> go.Figure:
    fig = go.Figure()
    by_kind = {k: [p for p in d.points if p.kind == k] for k in COLOR}
    if by_kind["pruned"]:
        fig.add_trace(_scatter(by_kind["pruned"], d, LABEL["pruned"], mode="markers", opacity=0.35,
                               marker=dict(color=COLOR["pruned"], size=7, symbol="circle-open")))
    if by_kind["infeasible"]:
        fig.add_trace(_scatter(by_kind["infeasible"], d, LABEL["infeasible"], mode="markers",
                               marker=dict(color=COLOR["infeasible"], size=8, symbol="x")))
    fig.add_trace(_scatter(by_kind["searched"], d, LABEL["searched"], mode="markers", opacity=0.75,
                           marker=dict(color=COLOR["searched"], size=8)))
    front_marker = dict(color=COLOR["front"], size=11, symbol="circle-open", line=dict(width=2.5))
    line = d.size_front()
    fig.add_trace(_scatter(line, d, LABEL["front"], mode="lines+markers", line_shape="hv",
                           line=dict(color=COLOR["front"], width=2), marker=front_marker))
    near = [p for p in d.points if p.near]
    if near:
        fig.add_trace(_scatter(near, d, LABEL["near"], mode="markers",
                               marker=dict(front_marker, size=9, line=dict(width=1.2)), opacity=0.7))
    faster = [p for p in d.points if p.on_front and not p.near and p not in line]
    if faster:  # on the front by latency alone
        fig.add_trace(_scatter(faster, d, LABEL[d.off_line_label], mode="markers", marker=front_marker))
    for kind, symbol in (("seed", "diamond"), ("fp32", "star")):
        pts = by_kind[kind]
        if pts:
            fig.add_trace(_scatter(pts, d, LABEL[kind], mode="markers+text", textposition="top center",
                                   text=["FP32" if kind == "fp32" else escape(p.seed) for p in pts],
                                   textfont=dict(color=COLOR[kind]),
                                   marker=dict(color=COLOR[kind], size=14, symbol=symbol,
                                               line=dict(color="white", width=1))))
    chosen = d.recommended()
    pts = [p for p in d.points if chosen and p.trial == chosen.trial]
    if pts:
        fig.add_trace(_scatter(pts, d, f"recommended (within {d.tolerance:g} of FP32)", mode="markers",
                               marker=dict(color="rgba(0,0,0,0)", size=22, symbol="circle",
                                           line=dict(color=COLOR["pick"], width=3))))
    for y, label, kind in d.marks():  # the two labels at opposite ends, so they never meet
        fig.add_hline(y=y, line_dash="dash" if kind == "limit" else "dot", line_color="#999",
                      annotation_text=label,
                      annotation_position="top right" if kind == "limit" else "bottom right")
    metric = escape(d.metric_name)
    view = d.y_view() if d.points else None  # far worse recipes out of range, listed apart
    fig.update_layout(
        template="plotly_white", height=600, hovermode="closest",
        title=f"{escape(d.name)}: {metric} vs model size",
        xaxis=dict(title="model size (MB, log scale)", type="log", **size_ticks(d)),
        yaxis=dict(title=f"{metric} (search split)", range=list(view) if view else None),
        legend=dict(bgcolor="rgba(255,255,255,0.8)"), hoverlabel=dict(align="left"))
    return fig


def size_ticks(d: StudyData) -> dict:
    """Labelled ticks at 1, 2 and 5 of each decade the sizes span (1, 1.5, 2, 3, 5, 7 within
    one decade), each with its share of FP32."""
    if not d.points:
        return {}
    lo, hi = (f(p.size_bytes for p in d.points) / 1e6 for f in (min, max))
    steps = (1, 1.5, 2, 3, 5, 7) if hi / lo < 10 else (1, 2, 5)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
             for m in steps]
    ticks = [t for t in ticks if lo / 1.25 <= t <= hi * 1.15]
    fp32 = d.fp32_size / 1e6
    return {"tickvals": ticks, "ticktext": [f"{t:g}<br>({t / fp32:.2g}x)" for t in ticks],
            "range": [math.log10(lo / 1.25), math.log10(hi * 1.15)]}


def summary(d: StudyData) -> str:
    m, s = d.meta, d.states
    seeds = sum(p.kind in ("fp32", "seed") for p in d.points)
    trials = (f"{s['complete']} completed ({seeds} seeds), {s['pruned']} pruned, {s['fail']} failed"
              + (f", {s['running']} running" if s["running"] else "")) if d.stored else \
        (f"{len(d.points)} recipes scored by the metric, read from pareto.json (the study's "
         f"storage is not in this folder, so its other trials are not shown)")
    rows = [("task", escape(str(m.task))), ("metric", escape(d.metric_name)),
            ("trials", trials),
            ("FP32", f"{escape(d.metric_name)} {_num(m.fp32_metric)} (search), "
                     f"{_num(m.fp32_confirm_metric)} (confirm); "
                     f"{d.fp32_size / 1e6:.4g} MB"),
            ("front", f"{len(d.front) - d.near_count} points"
                      + (f", and {d.near_count} within {m.front_margin:g} of it (front margin)"
                         if d.near_count else ""))]
    if m.chance_metric is not None:
        rows.insert(4, ("constant answer", f"{escape(d.metric_name)} {_num(m.chance_metric)} (search), "
                                           f"{_num(m.chance_confirm_metric)} (confirm)"))
    chosen = d.recommended()
    rows.append(("recommended", "none within the tolerance" if chosen is None else
                 f"trial {chosen.trial}: {d.ratio(chosen.size_bytes):.3f} of FP32's size, "
                 f"{escape(d.metric_name)} {_num(chosen.metric)} (search), "
                 f"{_num(chosen.confirm_metric)} (confirm; {escape(chosen.delta_text())} "
                 f"against FP32, 95%): the smallest recipe within {d.tolerance:g} of FP32 on both "
                 f"splits (<code>autoq pareto --max-drop {d.tolerance:g}</code>)"))
    if d.int8 is not None:
        i = d.int8
        scored = (f"{escape(d.metric_name)} {_num(i.metric)} (search)" if i.metric is not None
                  else f"{escape(d.metric_name)} not scored (not on the fidelity front)")
        rows.append(("uniform int8", f"{d.ratio(i.size_bytes):.3f} of FP32's size, {scored}"
                     + (f", fidelity {i.value:.3g}" if m.by_fidelity else "")))
    below = d.below_view()
    if below:
        rows.append(("below the chart", f"{len(below)} recipe(s) far under the front, outside the "
                     f"chart's range: " + ", ".join(f"trial {p.trial} ({_num(p.metric, '.4g')})"
                                                  for p in sorted(below, key=lambda p: -p.metric)[:12])))
    if m.by_fidelity:
        rows.append(("objective", f"fidelity to FP32 on the pool {escape(str(m.pool))}; "
                                  f"the metric scored on the fidelity front only"))
    if len(m.objectives) > 2:
        rows.append(("objectives", escape(", ".join(m.objectives))))
    settings = {"sampler": m.sampler, "max drop": m.max_drop, "min agreement": m.min_agreement}
    if not m.by_fidelity:
        settings["fidelity"] = m.fidelity
    rows += [(k, escape(str(v))) for k, v in settings.items() if v is not None]
    out = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
    if d.failures:
        items = "".join(f"<li>{n} x <code>{escape(r[:300])}</code></li>"
                        for r, n in d.failures.most_common(5))
        out += f"<p>Most common failure reasons:</p><ul>{items}</ul>"
    return out


def front_table(d: StudyData) -> str:
    name = escape(d.metric_name)
    timed = any(r.latency_ratio is not None for r in d.front)
    fid = any(r.fidelity is not None for r in d.front)
    dist = escape(distance_label(d.meta.distance))
    head = ("<tr><th>trial</th>" + (f"<th>fidelity ({dist})</th>" if fid else "") + "<th>" + name
            + " (search)</th><th>" + name + " (confirm)</th>"
            "<th>confirm less FP32, 95%</th><th>size MB</th><th>x FP32</th>" + ("<th>time x FP32</th>" if timed else "")
            + "<th class=l>recipe</th></tr>")
    body, chosen = [], d.recommended()
    for r in d.front:
        tag = f' <span class=tag>[{escape(str(r.seed))}]</span>' if r.seed else ""
        if r.near:
            tag += " <span class=tag>[near]</span>"
        if r.beats_chance is False:
            tag += " <span class=tag>[chance]</span>"
        if r.float_in_deploy:
            tag += f" <span class=tag>[{int(r.float_in_deploy)} op(s) float on deploy]</span>"
        if chosen is not None and r.trial == chosen.trial:
            tag += " <b class=tag>[recommended]</b>"
        path = escape(str(r.recipe))
        body.append(f"<tr><td>{r.trial}{tag}</td>"
                    + (f"<td>{_num(r.fidelity, '.3g')}</td>" if fid else "")
                    + f"<td>{_num(r.metric)}</td>"
                    f"<td>{_num(r.confirm_metric)}</td><td>{escape(r.delta_text())}</td>"
                    f"<td>{r.size_bytes / 1e6:.4g}</td>"
                    f"<td>{d.ratio(r.size_bytes):.3f}</td>"
                    + (f"<td>{_num(r.latency_ratio, '.3f')}</td>" if timed else "") +
                    f'<td class=l><a href="{path}">{path}</a></td></tr>')
    return f"<table>{head}{''.join(body)}</table>"


def page(d: StudyData) -> str:
    chart = figure(d).to_html(full_html=False, include_plotlyjs=True, div_id="pareto-chart",
                              config={"displaylogo": False, "responsive": True})
    title = escape(d.name)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>autoq report: {title}</title>
<style>{CSS}</style></head><body>
<h1>autoq study {title}</h1>
{summary(d)}
{chart}
<h2>Pareto front</h2>
{front_table(d)}
<p class=note>Search: the metric on the search split; confirm: the same recipe re-scored on the
held-out confirm split; [chance]: on the confirm split, no better than a constant answer (a
paired bootstrap, 95%), so never picked. Pruned trials are drawn at their partial (low-fidelity) metric.
Recipe paths are relative to this folder.</p>
</body></html>
"""
