"""The ``gpucircuit report`` summary rendered for people: a headline, Markdown, and one
self-contained HTML page, from the summary dict that :func:`gpucircuit.analysis.report.build_summary`
assembles. Definitions of every metric are written once here, into both renderings."""
from __future__ import annotations

import html
import math

import numpy as np


def _num(x, digits=4) -> str:
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    if math.isnan(x):
        return "–"
    if x != 0 and (abs(x) < 10 ** -(digits - 1) or abs(x) >= 1e12):
        return f"{x:.{digits - 1}e}"
    return f"{x:,.0f}" if abs(x) >= 10 ** digits else f"{x:.{digits}g}"



def _sections(s: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every summary table (shared by Markdown and HTML)."""
    out = []
    overview = [
        ["Sources (cores)", _num(s["sources"]["count"]), f"{_num(s['sources']['area_km2'])} km²"],
        ["Corridors (active links)", _num(s["corridors"]["count"]), f"{_num(s['corridors']['length_km'])} km"],
        ["Pinch-point patches", _num(s["pinchpoints"]["count"]), f"{_num(s['pinchpoints']['area_km2'])} km²"],
    ]
    if s["barriers"] is not None:
        overview.append(["Barrier patches", _num(s["barriers"]["count"]), f"{_num(s['barriers']['area_km2'])} km²"])
    if s["breakpoints"] is not None:
        overview.append(["Breakpoints (LCP × lines)", _num(s["breakpoints"]), ""])
    overview.append(["Important corridors (gravity)", _num(s["important_corridors"]), ""])
    out.append(("Overview", ["Item", "Count", "Area / length"], overview))
    net = s["network"]
    out.append(("Network indices", ["Index", "Value"], [
        ["nodes (cores)", _num(net["nodes"])], ["edges (active links)", _num(net["edges"])],
        ["α (circuitry)", _num(net["alpha"])], ["β (edges per node)", _num(net["beta"])],
        ["γ (connectivity)", _num(net["gamma"])], ["PC (probability of connectivity)", _num(net["pc"])]]))
    classes = []
    for name, key in (("Pinch points", "pinchpoints"), ("Barriers", "barriers")):
        c = s[key]
        if c is not None:
            classes.append([name, str(c["class"]), f"{_num(c['lower'])} – {_num(c['upper'])}", _num(c["cells"])])
    out.append(("Top classes", ["Map", "Class", "Value range", "Cells"], classes))
    if s["width"] is not None:
        w = s["width"]
        out.append(("Corridor width sweep", ["CWD cutoff", "Cumulative current", "Relative change", "Selected"],
                    [[_num(r["cutoff"]), _num(r["cumulative_current"]), _num(r["relative_change"]),
                      "◀" if r["selected"] else ""] for r in w["rows"]]))
    out.append(("Top corridors by importance (gravity model)",
                ["Rank", "Link", "Cores", "LCD", "LCP km", "G", "Class", "Centrality"],
                [[str(r["rank"]), str(r["link_id"]), f"{r['core_a']}–{r['core_b']}", _num(r["lcd"]),
                  _num(r["lcp_length_km"]), _num(r["G"]), r["class"], _num(r["centrality"])]
                 for r in s["top_corridors"]]))
    if s["timings"]:
        tot = sum(s["timings"].values())
        out.append(("Timings", ["Step", "Seconds"],
                    [[k, f"{v:.2f}"] for k, v in s["timings"].items()] + [["total", f"{tot:.2f}"]]))
    if s["sources_files"]:
        out.append(("Inputs", ["Input", "Path"], [[k, v] for k, v in s["sources_files"].items()]))
    if s["settings"]:
        out.append(("Settings", ["Setting", "Value"], [[k, str(v)] for k, v in s["settings"].items()]))
    return out



_DEFINITIONS = [
    "Sources = cores; area S_i = core cells × cell area (m²); P_i = mean resistance over the core's cells.",
    "Pinch points = top class of the pinch-point current map (all-to-one if present, else adjacent pairs), "
    "classes over the corridor cells (finite current, cores excluded); patches are 8-connected.",
    "Barriers = top class of the Barrier Mapper maximum score, classes over the cells with a positive score; "
    "patches are 8-connected.",
    "Corridors = active links; length = Σ least-cost-path lengths.",
    "α, β, γ: nodes = cores, edges = active links. PC: Euclidean edge-to-edge distances between cores, "
    "p = exp(−k d) with p(d_threshold) = p_threshold, landscape area = area of valid resistance cells.",
    "Gravity: G_ij = L_max² ln S_i ln S_j / (L_ij² P_i P_j), L = least-cost distance; important if G > threshold.",
    "Width sweep: cumulative all-to-one current over the corridor cells (cores excluded) of the union of "
    "corridors at each CWD cutoff; selected = smallest relative change from the previous cutoff.",
]



def summary_headline(s: dict) -> list[str]:
    lines = [
        f"{s['sources']['count']} sources ({_num(s['sources']['area_km2'])} km²) joined by "
        f"{s['corridors']['count']} corridors ({_num(s['corridors']['length_km'])} km).",
        f"{s['pinchpoints']['count']} pinch-point patches ({_num(s['pinchpoints']['area_km2'])} km²)"
        + ("" if s["barriers"] is None else
           f"; {s['barriers']['count']} barrier patches ({_num(s['barriers']['area_km2'])} km²)")
        + ("" if s["breakpoints"] is None else f"; {s['breakpoints']} breakpoint(s)") + ".",
        f"α = {_num(s['network']['alpha'])}, β = {_num(s['network']['beta'])}, "
        f"γ = {_num(s['network']['gamma'])}, PC = {_num(s['network']['pc'])}.",
    ]
    if s["width"] is not None:
        lines.append(f"Chosen corridor width (CWD cutoff): {_num(s['width']['best_cutoff'])}.")
    return lines



def summary_markdown(s: dict) -> str:
    """The summary as Markdown (headline, tables, definitions)."""
    out = ["# gpucircuit report", ""]
    out += [f"- {line}" for line in summary_headline(s)]
    for title, header, rows in _sections(s):
        out += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    out += ["", "## Definitions", ""] + [f"- {d}" for d in _DEFINITIONS]
    return "\n".join(out) + "\n"



def summary_html(s: dict, images: dict[str, bytes] | None = None) -> str:
    """The summary as one self-contained HTML page (inline CSS, tables, PNGs as data URIs)."""
    import base64

    e = html.escape
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<title>gpucircuit report</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;"
             "text-align:right}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}"
             "figure{display:inline-block;margin:.5em;max-width:460px}img{max-width:100%}"
             "figcaption{font-size:.9em;color:#555}</style></head><body>",
             "<h1>gpucircuit report</h1>", "<ul>"]
    parts += [f"<li>{e(line)}</li>" for line in summary_headline(s)]
    parts.append("</ul>")
    for title, header, rows in _sections(s):
        parts.append(f"<h2>{e(title)}</h2><table><thead><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</tbody></table>")
    if images:
        parts.append("<h2>Maps and plots</h2>")
        for name, data in images.items():
            b64 = base64.b64encode(data).decode("ascii")
            parts.append(f"<figure><img alt=\"{e(name)}\" src=\"data:image/png;base64,{b64}\">"
                         f"<figcaption>{e(name)}</figcaption></figure>")
    parts.append("<h2>Definitions</h2><ul>" + "".join(f"<li>{e(d)}</li>" for d in _DEFINITIONS) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
