"""Reports of lab runs: a console summary, JSON, JUnit XML and a self-contained HTML page."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from labs.results import CallResult, InvoiceResult, LabResult, Ladder, PricedLeg, StepResult


class ReportError(ValueError):
    """A report cannot be written where it was asked for."""


# Characters XML 1.0 cannot carry at all (NUL, terminal escapes...): a SIP detail may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """`text` with the characters XML and HTML refuse written as Python escapes."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _money(amount: Decimal) -> str:
    # "f" so that a Decimal never comes out as "1E+1"
    return format(amount, "f")


def _call_price(call: CallResult) -> Decimal:
    return sum((leg.price_eur for leg in call.legs), Decimal("0.00"))


def _calls_price(result: LabResult) -> Decimal:
    return sum((_call_price(call) for call in result.calls), Decimal("0.00"))


def _met(result: LabResult) -> tuple[int, int]:
    expectations = result.expectations
    return sum(1 for step in expectations if step.ok is True), len(expectations)


def _verdict(result: LabResult) -> str:
    return "passed" if result.ok else "failed"


def _verdict_text(result: LabResult) -> str:
    skipped = f", {len(result.skipped)} skipped" if result.skipped else ""
    return _verdict(result) + skipped


def _outcome(step: StepResult) -> str:
    if step.kind == "expect":
        return {True: "met", False: "not met", None: "not checked"}[step.ok]
    return {True: "ok", False: "failed", None: "done"}[step.ok]


def _case_name(step: StepResult) -> str:
    return f"{step.index:02d} {step.kind}: {step.summary}"


def _where(result: LabResult, step: StepResult) -> str:
    """The step's place in the scenario file, as editors and terminals link it."""
    return f"{result.source}:{step.line}" if step.line is not None else result.source


def _at(moment: dt.datetime | None) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") if moment is not None else ""


# --- console ---------------------------------------------------------------------------------


def summary_table(results: Sequence[LabResult]) -> Table:
    """One row per scenario: its steps, expectations met, calls, their price and the verdict."""
    table = Table(title="Lab results", title_justify="left")
    for column in ("scenario", "steps", "expectations met", "calls", "calls EUR HT", "verdict"):
        numeric = column in ("steps", "expectations met", "calls", "calls EUR HT")
        table.add_column(column, justify="right" if numeric else "left")
    for result in results:
        met, total = _met(result)
        table.add_row(
            Text(result.scenario),
            str(len(result.steps)),
            f"{met}/{total}",
            str(len(result.calls)),
            _money(_calls_price(result)),
            Text(_verdict_text(result), style="bold green" if result.ok else "bold red"),
        )
    return table


def steps_table(result: LabResult) -> Table:
    """One row per step of a scenario: its line in the file, its outcome and what happened."""
    table = Table(title=f"{result.scenario}: steps", title_justify="left")
    for column in ("#", "line", "step", "outcome", "what happened"):
        table.add_column(column, justify="right" if column in ("#", "line") else "left")
    for step in result.steps:
        table.add_row(
            f"{step.index:02d}",
            str(step.line) if step.line is not None else "",
            Text(step.kind),
            Text(_outcome(step)),
            Text(step.detail),
            style="red" if step.ok is False else None,
        )
    return table


def render_summary(results: Sequence[LabResult], console: Console) -> None:
    """What a lab run prints at its end: each scenario's failing steps, then the tables."""
    for result in results:
        for reason in result.skipped:
            console.print(Text.assemble((result.scenario, "bold yellow"), ": skipped: ", reason))
        failures = result.failures
        if not failures:
            continue
        count = f"{len(failures)} failing step{'s' if len(failures) > 1 else ''}"
        console.print(Text.assemble((result.scenario, "bold red"), f": {count}"))
        for step in failures:
            console.print(
                Text.assemble(
                    "  ",
                    (_where(result, step), "bold"),
                    f": {_case_name(step)}: ",
                    (step.detail or _outcome(step), "red"),
                )
            )
    for result in results:
        console.print(steps_table(result))
    console.print(summary_table(results))


# --- JSON ------------------------------------------------------------------------------------


def _step_json(step: StepResult) -> dict[str, Any]:
    return {
        "index": step.index,
        "kind": step.kind,
        "summary": step.summary,
        "ok": step.ok,
        "outcome": _outcome(step),
        "detail": step.detail,
        "at": step.at.isoformat() if step.at is not None else None,
        "line": step.line,
    }


def _leg_json(leg: PricedLeg) -> dict[str, Any]:
    return {
        "account": leg.account,
        "line": leg.line,
        "caller": leg.caller,
        "callee": leg.callee,
        "duration_s": leg.duration_s,
        "disposition": leg.disposition,
        "forwarded_from": leg.forwarded_from,
        "forward_reason": leg.forward_reason,
        "kind": leg.kind,
        "price_eur": _money(leg.price_eur),
        "rule": leg.rule,
    }


def _call_json(call: CallResult) -> dict[str, Any]:
    return {
        "id": call.id,
        "caller": call.caller,
        "dialled": call.dialled,
        "answered_by": call.answered_by,
        "status": call.status,
        "disposition": call.disposition,
        "duration_s": call.duration_s,
        "price_eur": _money(_call_price(call)),
        "hops": [
            {"forwarder": forwarder, "target": target, "reason": reason}
            for forwarder, target, reason in call.hops
        ],
        "legs": [_leg_json(leg) for leg in call.legs],
        "ladder": [
            {
                "at": arrow.at.isoformat(),
                "source": arrow.source,
                "target": arrow.target,
                "label": arrow.label,
            }
            for arrow in call.ladder
        ],
    }


def _invoice_json(invoice: InvoiceResult) -> dict[str, Any]:
    return {
        "account": invoice.account,
        "offer": invoice.offer,
        "month": invoice.month,
        "lines": [
            {"label": line.label, "amount_eur": _money(line.amount_eur)} for line in invoice.lines
        ],
        "total_eur": _money(invoice.total_eur),
    }


def _lab_json(result: LabResult) -> dict[str, Any]:
    met, total = _met(result)
    return {
        "scenario": result.scenario,
        "description": result.description,
        "source": result.source,
        "started": result.started.isoformat(),
        "wall_s": round(result.wall_s, 3),
        "ok": result.ok,
        "verdict": _verdict(result),
        "skipped": list(result.skipped),
        "expectations": {"met": met, "total": total},
        "calls_eur": _money(_calls_price(result)),
        "steps": [_step_json(step) for step in result.steps],
        "calls": [_call_json(call) for call in result.calls],
        "invoices": [_invoice_json(invoice) for invoice in result.invoices],
    }


def to_json(results: Sequence[LabResult]) -> dict[str, Any]:
    """The runs as plain JSON types: money as decimal strings, times as ISO 8601 strings."""
    return {
        "ok": all(result.ok for result in results),
        "passed": sum(1 for result in results if result.ok),
        "failed": sum(1 for result in results if not result.ok),
        "scenarios": [_lab_json(result) for result in results],
    }


def _target(path: Path) -> Path:
    """`path`, with its folders made, once sure a report file can go there."""
    if path.is_dir():
        raise ReportError(f"{path}: is a folder; give the report a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise ReportError(
            f"{path}: cannot make its folder {path.parent}: a file is in the way"
        ) from error
    return path


def write_json(results: Sequence[LabResult], path: Path) -> None:
    """`to_json` written to `path` (its folders made), indented."""
    text = json.dumps(to_json(results), indent=2, ensure_ascii=False, allow_nan=False)
    _target(path).write_text(text + "\n", encoding="utf-8")


# --- JUnit XML -------------------------------------------------------------------------------


def _timestamp(moment: dt.datetime) -> str:
    # JUnit's schema wants a local time without offset: give it in UTC
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _junit_suite(parent: ET.Element, result: LabResult, number: int) -> None:
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=_clean(result.scenario),
        tests=str(len(result.steps) + len(result.skipped)),
        failures=str(len(result.failures)),
        errors="0",
        skipped=str(len(result.skipped)),
        time=f"{result.wall_s:.3f}",
        timestamp=_timestamp(result.started),
        id=str(number),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("description", result.description), ("source", result.source)):
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    for step in result.steps:
        # A lab records only the whole scenario's wall time, not each step's.
        case = ET.SubElement(
            suite,
            "testcase",
            name=_clean(_case_name(step)),
            classname=_clean(result.scenario),
            time="0.000",
        )
        where = _where(result, step)
        if step.ok is False:
            detail = step.detail or _outcome(step)
            failure = ET.SubElement(case, "failure", message=_clean(detail), type=_clean(step.kind))
            failure.text = _clean(f"{where}: {_case_name(step)}\n{detail}")
        when = f", simulated time {_at(step.at)}" if step.at is not None else ""
        ET.SubElement(case, "system-out").text = _clean(f"{where}: {_outcome(step)}{when}")
    for reason in result.skipped:
        case = ET.SubElement(
            suite,
            "testcase",
            name=_clean(f"skipped: {reason}"),
            classname=_clean(result.scenario),
            time="0.000",
        )
        ET.SubElement(case, "skipped", message=_clean(reason))


def write_junit(results: Sequence[LabResult], path: Path) -> None:
    """A JUnit XML report: one test suite per scenario, one test case per step."""
    root = ET.Element(
        "testsuites",
        name="livebox lab",
        tests=str(sum(len(r.steps) + len(r.skipped) for r in results)),
        failures=str(sum(len(r.failures) for r in results)),
        errors="0",
        skipped=str(sum(len(r.skipped) for r in results)),
        time=f"{sum(r.wall_s for r in results):.3f}",
    )
    for number, result in enumerate(results):
        _junit_suite(root, result, number)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True)
    _target(path).write_text(text + "\n", encoding="utf-8")


# --- HTML ------------------------------------------------------------------------------------


class _Markup(str):
    """HTML already escaped, to be written as it is."""

    __slots__ = ()


def _h(text: object) -> str:
    return html.escape(_clean(str(text)), quote=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _clock(moment: dt.datetime) -> str:
    if moment.microsecond:
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return moment.strftime("%H:%M:%S")


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.4em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: bold; padding: 0.2em 0; }
tfoot td { font-weight: bold; }
.verdict { color: #fff; border-radius: 0.3em; padding: 0.05em 0.5em; font-size: 0.8em; }
.verdict.passed { background: #2e7d32; }
.verdict.failed { background: #c62828; }
section.scenario { border-top: 3px solid #ddd; margin-top: 2em; }
section.scenario.failed { border-top-color: #c62828; }
tr.failed td { background: #fdecea; }
tr.failed td.outcome { color: #b71c1c; font-weight: bold; }
tr.met td.outcome, tr.ok td.outcome { color: #2e7d32; }
tr.forwarded td { background: #fff3e0; }
.skipped { color: #8d6e00; }
.call { margin: 1em 0 2em; }
svg.ladder { display: block; background: #fcfcfc; border: 1px solid #e0e0e0; }
svg.ladder text { font: 12px system-ui, sans-serif; fill: #222;
  paint-order: stroke; stroke: #fcfcfc; stroke-width: 3px; }
svg.ladder text.party { font-weight: bold; }
svg.ladder text.note, svg.ladder text.time { fill: #666; font-size: 11px; }
svg.ladder line.lifeline { stroke: #999; stroke-dasharray: 4 3; }
svg.ladder line.lifeline.forwarded { stroke: #ef6c00; }
svg.ladder .arrow line, svg.ladder .arrow path { stroke: #1565c0; stroke-width: 1.5; fill: none; }
svg.ladder .arrow polygon { fill: #1565c0; }
svg.ladder .arrow.forwarded line, svg.ladder .arrow.forwarded path { stroke: #ef6c00; }
svg.ladder .arrow.forwarded polygon { fill: #ef6c00; }
"""

# Ladder geometry, in pixels.
_TIMES_W = 110
_PARTY_W = 190
_TOP = 46
_ROW = 34
_HEAD = 8


def _parties(ladder: Sequence[Ladder]) -> list[str]:
    """The parties of a ladder, in the order they first appear."""
    parties: dict[str, None] = {}
    for arrow in ladder:
        parties.setdefault(arrow.source)
        parties.setdefault(arrow.target)
    return list(parties)


def _forwarded(arrow: Ladder, targets: dict[str, str]) -> bool:
    # The ladder does not say which leg an arrow belongs to: an arrow to or from a party the
    # call was forwarded to is on a forwarded leg, and so is the exchange's note of forwarding.
    if arrow.source in targets or arrow.target in targets:
        return True
    return arrow.source == arrow.target and any(target in arrow.label for target in targets)


def _arrow_svg(arrow: Ladder, x1: int, x2: int, y: int, forwarded: bool, start: dt.datetime) -> str:
    offset = (arrow.at - start).total_seconds()
    path = f"{arrow.source} \u2192 {arrow.target}"
    title = f"{arrow.at.isoformat()} (+{offset:.3f} s): {path}: {arrow.label}"
    parts = [f'<g class="arrow{" forwarded" if forwarded else ""}"><title>{_h(title)}</title>']
    parts.append(f'<text class="time" x="6" y="{y + 4}">{_h(_clock(arrow.at))}</text>')
    if x1 == x2:
        # a note of a party to itself: a small loop back to its own line
        drop = 12
        parts.append(f'<path d="M {x1} {y - drop // 2} h 28 v {drop} h -{28 - _HEAD}"/>')
        tip = y + drop // 2
        parts.append(
            f'<polygon points="{x1},{tip} {x1 + _HEAD},{tip - 4} {x1 + _HEAD},{tip + 4}"/>'
        )
        parts.append(
            f'<text class="note" x="{x1 + 34}" y="{y + 4}">{_h(_short(arrow.label, 60))}</text>'
        )
    else:
        sign = 1 if x2 > x1 else -1
        back = x2 - sign * _HEAD
        parts.append(f'<line x1="{x1}" y1="{y}" x2="{back}" y2="{y}"/>')
        parts.append(f'<polygon points="{x2},{y} {back},{y - 4} {back},{y + 4}"/>')
        fits = max(8, abs(x2 - x1) // 7)
        parts.append(
            f'<text x="{(x1 + x2) // 2}" y="{y - 5}" text-anchor="middle">'
            f"{_h(_short(arrow.label, fits))}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _ladder_svg(call: CallResult) -> str:
    """The call's ladder diagram: a vertical line per party, an arrow per message, in order."""
    if not call.ladder:
        return '<p class="empty">No signalling recorded for this call.</p>'
    parties = _parties(call.ladder)
    targets: dict[str, str] = {}
    for _forwarder, target, reason in call.hops:
        targets.setdefault(target, reason)
    x = {party: _TIMES_W + _PARTY_W * i + _PARTY_W // 2 for i, party in enumerate(parties)}
    # room on the right for a note written beside the last party's line
    width = _TIMES_W + _PARTY_W * len(parties) + 140
    height = _TOP + _ROW * len(call.ladder) + _ROW // 2
    label = f"Ladder of call {call.id}: {', '.join(parties)}"
    out = [
        f'<svg class="ladder" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{_h(label)}">'
    ]
    for party in parties:
        forwarded = party in targets
        css = " forwarded" if forwarded else ""
        out.append(
            f'<text class="party" x="{x[party]}" y="16" text-anchor="middle">'
            f"<title>{_h(party)}</title>{_h(_short(party, 26))}</text>"
        )
        if forwarded:
            out.append(
                f'<text class="note" x="{x[party]}" y="31" text-anchor="middle">'
                f"{_h('forwarded: ' + targets[party])}</text>"
            )
        out.append(
            f'<line class="lifeline{css}" x1="{x[party]}" y1="{_TOP - 8}" '
            f'x2="{x[party]}" y2="{height - 4}"/>'
        )
    start = call.ladder[0].at
    for row, arrow in enumerate(call.ladder):
        y = _TOP + _ROW * row + _ROW // 2
        forwarded = _forwarded(arrow, targets)
        out.append(_arrow_svg(arrow, x[arrow.source], x[arrow.target], y, forwarded, start))
    out.append("</svg>")
    return "\n".join(out)


def _table(
    headers: Sequence[str],
    rows: Sequence[tuple[str, Sequence[object]]],
    *,
    numeric: frozenset[str] = frozenset(),
    css: str = "",
    caption: str = "",
    foot: Sequence[object] = (),
) -> str:
    """An HTML table; each row comes with its CSS class (or "")."""

    def cell(tag: str, header: str, value: object) -> str:
        css = "num" if header in numeric else "outcome" if header == "outcome" else ""
        text = value if isinstance(value, _Markup) else _h(value)
        return f'<{tag} class="{css}">{text}</{tag}>' if css else f"<{tag}>{text}</{tag}>"

    out = [f'<table class="{css}">' if css else "<table>"]
    if caption:
        out.append(f"<caption>{_h(caption)}</caption>")
    out.append("<thead><tr>" + "".join(cell("th", h, h) for h in headers) + "</tr></thead>")
    out.append("<tbody>")
    for row_css, values in rows:
        opening = f'<tr class="{row_css}">' if row_css else "<tr>"
        out.append(
            opening
            + "".join(cell("td", h, v) for h, v in zip(headers, values, strict=True))
            + "</tr>"
        )
    out.append("</tbody>")
    if foot:
        out.append(
            "<tfoot><tr>"
            + "".join(cell("td", h, v) for h, v in zip(headers, foot, strict=True))
            + "</tr></tfoot>"
        )
    out.append("</table>")
    return "\n".join(out)


def _steps_html(result: LabResult) -> str:
    if not result.steps:
        return '<p class="empty">No steps.</p>'
    headers = ("#", "line", "at", "kind", "summary", "outcome", "detail")
    rows = [
        (
            "failed" if step.ok is False else _outcome(step).replace(" ", "-"),
            (
                f"{step.index:02d}",
                step.line if step.line is not None else "",
                _at(step.at),
                step.kind,
                step.summary,
                _outcome(step),
                step.detail,
            ),
        )
        for step in result.steps
    ]
    return _table(headers, rows, numeric=frozenset({"#", "line"}), css="steps")


def _call_html(call: CallResult, anchor: str) -> str:
    answered = f"answered by {call.answered_by}" if call.answered_by else "not answered"
    facts = [
        answered,
        f"status {call.status}" if call.status is not None else "no final status",
        call.disposition or "no disposition",
        f"{call.duration_s} s",
        f"{_money(_call_price(call))} EUR HT",
    ]
    out = [
        f'<article class="call" id="{_h(anchor)}">',
        f"<h4>Call {_h(call.id)}: {_h(call.caller)} \u2192 {_h(call.dialled)}</h4>",
        '<p class="facts">' + " \u00b7 ".join(_h(fact) for fact in facts) + "</p>",
    ]
    if call.hops:
        hops = "; ".join(f"{f} \u2192 {t} ({r})" for f, t, r in call.hops)
        out.append(f'<p class="hops">Forwarded: {_h(hops)}</p>')
    out.append(_ladder_svg(call))
    if call.legs:
        headers = (
            "account",
            "line",
            "caller",
            "callee",
            "s",
            "disposition",
            "forwarded from",
            "reason",
            "kind",
            "EUR HT",
            "rule",
        )
        rows = [
            (
                "forwarded" if leg.forwarded_from else "",
                (
                    leg.account,
                    leg.line,
                    leg.caller,
                    leg.callee,
                    leg.duration_s,
                    leg.disposition,
                    leg.forwarded_from or "",
                    leg.forward_reason or "",
                    leg.kind,
                    _money(leg.price_eur),
                    leg.rule,
                ),
            )
            for leg in call.legs
        ]
        out.append(
            _table(
                headers, rows, numeric=frozenset({"s", "EUR HT"}), css="legs", caption="Priced legs"
            )
        )
    else:
        out.append('<p class="empty">No priced legs.</p>')
    out.append("</article>")
    return "\n".join(out)


def _invoice_html(invoice: InvoiceResult) -> str:
    rows = [("", (line.label, _money(line.amount_eur))) for line in invoice.lines]
    return _table(
        ("label", "EUR HT"),
        rows,
        numeric=frozenset({"EUR HT"}),
        css="invoice",
        caption=f"Invoice of {invoice.account}, {invoice.offer}, {invoice.month}",
        foot=("total", _money(invoice.total_eur)),
    )


def _lab_html(result: LabResult, number: int) -> str:
    verdict = _verdict(result)
    met, total = _met(result)
    out = [
        f'<section class="scenario {verdict}" id="scenario-{number}">',
        f'<h2>{_h(result.scenario)} <span class="verdict {verdict}">{_h(verdict)}</span></h2>',
    ]
    if result.description:
        out.append(f'<p class="description">{_h(result.description)}</p>')
    out.append(
        f'<p class="meta">{_h(result.source)} \u00b7 started {_h(_at(result.started))} \u00b7 '
        f"{met}/{total} expectations met \u00b7 {result.wall_s:.3f} s</p>"
    )
    out += [f'<p class="skipped">Skipped: {_h(reason)}</p>' for reason in result.skipped]
    out += ["<h3>Steps</h3>", _steps_html(result), "<h3>Calls</h3>"]
    if not result.calls:
        out.append('<p class="empty">No calls.</p>')
    out += [_call_html(c, f"scenario-{number}-call-{i}") for i, c in enumerate(result.calls)]
    out.append("<h3>Invoices</h3>")
    if not result.invoices:
        out.append('<p class="empty">No invoices.</p>')
    out += [_invoice_html(invoice) for invoice in result.invoices]
    out.append("</section>")
    return "\n".join(out)


def _overview_html(results: Sequence[LabResult]) -> str:
    headers = ("scenario", "steps", "expectations met", "calls", "calls EUR HT", "verdict")
    rows = []
    for number, result in enumerate(results):
        met, total = _met(result)
        link = _Markup(f'<a href="#scenario-{number}">{_h(result.scenario)}</a>')
        values = (
            link,
            len(result.steps),
            f"{met}/{total}",
            len(result.calls),
            _money(_calls_price(result)),
            _verdict_text(result),
        )
        rows.append((_verdict(result), values))
    numeric = frozenset({"steps", "expectations met", "calls", "calls EUR HT"})
    return _table(headers, rows, numeric=numeric, css="overview")


def to_html(results: Sequence[LabResult]) -> str:
    """The runs as one HTML page that needs nothing else: no script, no network."""
    passed = sum(1 for result in results if result.ok)
    body = [
        "<h1>Lab report</h1>",
        f'<p class="totals">{len(results)} scenarios: {passed} passed, '
        f"{len(results) - passed} failed.</p>",
        _overview_html(results),
        *(_lab_html(result, number) for number, result in enumerate(results)),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><title>Lab report</title>',
            f"<style>{_CSS}</style></head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
        ]
    )


def write_html(results: Sequence[LabResult], path: Path) -> None:
    """`to_html` written to `path` (its folders made)."""
    _target(path).write_text(to_html(results) + "\n", encoding="utf-8")
