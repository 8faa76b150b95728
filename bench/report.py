"""The printed report and the ratios against the performance targets."""

from __future__ import annotations

from typing import Any

from bench import daily_report

Results = dict[str, Any]

# (name, numerator case, denominator case, measure, target or None). The targets: at the
# daily size, the whole process <= 2.0x raw DuckDB's time and <= 1.3x its peak RSS (medians
# of interleaved runs); at 1M and 2M searches, end to end <= 2.0x raw DuckDB's time and
# peak RSS <= 1.1x; extract-stage RSS flat (4x rows <= 1.1x). The others are informative.
RATIOS: tuple[tuple[str, str, str, str, float | None], ...] = (
    ("daily: wall, whole process", "daily", "daily_c", "median_process_wall_s", 2.0),
    ("daily: peak RSS", "daily", "daily_c", "median_process_peak_rss_mb", 1.3),
    ("daily: CPU s, whole process", "daily", "daily_c", "median_process_cpu_s", None),
    ("a/c wall (end to end)", "a", "c", "wall_s", 2.0),
    ("b/c wall (local zip)", "b", "c", "wall_s", None),
    ("b high-rate/b wall", "b_high_rate", "b", "wall_s", None),
    ("d/b wall (d extrapolated)", "d", "b", "wall_s", None),
    ("e concurrent/sequential wall", "e_conc", "e_seq", "wall_s", 0.6),
    ("a/c CPU s, whole process", "a", "c", "process_cpu_s", None),
    ("b/c CPU s, whole process", "b", "c", "process_cpu_s", None),
    ("RSS(a)/RSS(c) (end to end)", "a", "c", "peak_rss_mb", 1.1),
    ("RSS(b)/RSS(c) (local zip)", "b", "c", "peak_rss_mb", None),
    ("extract RSS(b) 4x/1x rows", "b_extract_4x", "b_extract", "peak_rss_mb", 1.1),
)


def case_figures(case: Results) -> tuple[int, float, float] | None:
    """Rows, wall seconds and peak RSS of a case; None when it failed."""
    if "error" in case or "wall_s" not in case:
        return None
    rows = int(case.get("extrapolated_rows") or case.get("rows") or 0)
    wall = float(case.get("extrapolated_wall_s") or case["wall_s"])
    return rows, wall, float(case.get("process_peak_rss_mb") or case.get("peak_rss_mb", 0.0))


def ratios(cases: dict[str, Results]) -> list[dict[str, Any]]:
    """Every ratio whose two cases ran, with its target and whether it is met."""
    out: list[dict[str, Any]] = []
    for name, top, bottom, measure, target in RATIOS:
        upper, lower = cases.get(top), cases.get(bottom)
        if upper is None or lower is None:
            continue
        figures = case_figures(upper), case_figures(lower)
        if figures[0] is None or figures[1] is None:
            out.append({"name": name, "value": None, "target": target, "met": None})
            continue
        if measure not in ("wall_s", "peak_rss_mb"):
            if measure not in upper or measure not in lower:
                continue
            top_value, bottom_value = float(upper[measure]), float(lower[measure])
        else:
            index = 1 if measure == "wall_s" else 2
            top_value, bottom_value = figures[0][index], figures[1][index]
        value = top_value / bottom_value if bottom_value else float("inf")
        met = None if target is None else value <= target
        out.append({"name": name, "value": round(value, 3), "target": target, "met": met})
    return out


def _table(cases: dict[str, Results], labels: dict[str, str]) -> list[str]:
    lines = [
        f"{'case':<58} {'rows':>11} {'wall s':>8} {'rows/s':>11} {'peak RSS MB':>12}",
        "-" * 104,
    ]
    for key, label in labels.items():
        case = cases.get(key)
        if case is None:
            continue
        figures = case_figures(case)
        if figures is None:
            lines.append(f"{label:<58} FAILED: {str(case.get('error', '?'))[-200:]}")
            continue
        rows, wall, rss = figures
        rate = rows / wall if wall else 0.0
        lines.append(f"{label:<58} {rows:>11,} {wall:>8.2f} {rate:>11,.0f} {rss:>12.0f}")
    return lines


def _ratio_lines(found: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'ratio':<32} {'value':>7}  {'target':<8} verdict", "-" * 60]
    for ratio in found:
        value = "n/a" if ratio["value"] is None else f"{ratio['value']:.2f}"
        target = "-" if ratio["target"] is None else f"<= {ratio['target']:g}"
        verdict = {True: "met", False: "MISSED", None: "(informative)"}[ratio["met"]]
        if ratio["value"] is None:
            verdict = "not measured (a case failed)"
        lines.append(f"{ratio['name']:<32} {value:>7}  {target:<8} {verdict}")
    return lines


def _stages(name: str, case: Results | None) -> str | None:
    """One line of step seconds, with the peak RSS so far after each step when known."""
    if case is None or not case.get("steps"):
        return None
    rss = case.get("peak_rss_after_step_mb", {})
    parts = [
        f"{step} {seconds:.2f}" + (f" (peak so far {rss[step]:.0f} MB)" if step in rss else "")
        for step, seconds in case["steps"].items()
    ]
    return f"  {name}: {', '.join(parts)}"


def _spreads(cases: dict[str, Results]) -> list[str]:
    lines = []
    for key, case in cases.items():
        if "repeats" in case:
            walls = ", ".join(f"{run['wall_s']:.2f}" for run in case["repeats"])
            lines.append(f"  {key}: wall s of each run {walls} (median reported)")
    return ["", "Repeats:", *lines] if lines else []


def render(results: Results, labels: dict[str, str]) -> str:
    """The report as printed by bench.run."""
    cases: dict[str, Results] = results["cases"]
    data = results["dataset"]
    if "daily" in cases:
        return "\n".join([*daily_report.render(results), "", *_ratio_lines(results["ratios"])])
    lines = [
        f"Dataset: {data['rows'].get('searches', 0):,} searches, {data['total_rows']:,} rows "
        f"in 5 tables ({', '.join(f'{t} {n:,}' for t, n in data['rows'].items())}); "
        f"{data['start']} to {data['end']}, {data['searches_per_hour']:,} searches/h; "
        f"zip {data['zip_bytes'] / 1e6:.0f} MB, CSV {data['csv_bytes'] / 1e6:.0f} MB; "
        f"generated in {data['generate_s']:.1f} s; share of c_* values that do not parse: "
        f"{data.get('bad_dimension_rate')}",
        "",
        *_table(cases, labels),
        "",
        *_ratio_lines(results["ratios"]),
        "",
        *results.get("notes", []),
    ]
    stage_lines = [
        line
        for line in (
            _stages("a (s)", cases.get("a")),
            _stages("b (s)", cases.get("b")),
            _stages("b high rate (s)", cases.get("b_high_rate")),
            _stages("c (CTAS per table, s)", cases.get("c")),
            _stages("d (at the sample size, s)", cases.get("d")),
            _stages("e sequential (s)", cases.get("e_seq")),
            _stages("e concurrent (s)", cases.get("e_conc")),
        )
        if line
    ]
    if stage_lines:
        lines += ["", "Stage timings (median run):", *stage_lines]
    lines += _spreads(cases)
    profile = cases.get("b_extract", {}).get("profile")
    if profile:
        lines += ["", "cProfile of b's extract step (own s, cumulative s, calls, function):"]
        lines += [f"  {line}" for line in profile]
    return "\n".join(lines)
