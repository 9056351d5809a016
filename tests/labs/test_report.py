"""Lab reports: the console summary, JSON, JUnit XML and the HTML page with ladder diagrams."""

from __future__ import annotations

import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from labs.report import (
    ReportError,
    render_summary,
    steps_table,
    summary_table,
    to_html,
    to_json,
    write_html,
    write_json,
    write_junit,
)
from labs.results import (
    CallResult,
    InvoiceLine,
    InvoiceResult,
    LabResult,
    Ladder,
    PricedLeg,
    StepResult,
)

PARIS = dt.timezone(dt.timedelta(hours=1))
START = dt.datetime(2026, 11, 30, 9, 0, tzinfo=PARIS)
OFFICE = "+33145000000"  # a Paris office calling the shop
SHOP = "+33972000001"  # the shop's line by internet
MOBILE = "+33612345678"  # the owner's mobile, where the shop forwards its calls
BRUSSELS = "+32470123456"  # a Belgian mobile the shop calls


def at(seconds: float) -> dt.datetime:
    return START + dt.timedelta(seconds=seconds)


def forwarded_call() -> CallResult:
    """The office calls the shop, forwarded unconditionally to the owner's mobile."""
    arrows = [
        (0.0, OFFICE, "core", f"INVITE {SHOP}"),
        (0.0, "core", "core", f"forwarded by {SHOP} (unconditional) to {MOBILE}"),
        (0.05, "core", MOBILE, "INVITE"),
        (0.1, MOBILE, "core", "180 Ringing"),
        (0.1, "core", OFFICE, "180 Ringing"),
        (2.0, MOBILE, "core", "200 OK"),
        (2.0, "core", OFFICE, "200 OK"),
        (62.0, OFFICE, "core", "BYE"),
        (62.0, "core", MOBILE, "BYE"),
    ]
    leg = PricedLeg(
        account="shop",
        line="voip",
        caller=OFFICE,
        callee=MOBILE,
        duration_s=60,
        disposition="answered",
        forwarded_from=SHOP,
        forward_reason="unconditional",
        kind="mobile",
        price_eur=Decimal("0.00"),
        rule="unlimited: mobiles of metropolitan France",
    )
    return CallResult(
        id="c1",
        caller=OFFICE,
        dialled=SHOP,
        answered_by=MOBILE,
        status=200,
        disposition="answered",
        duration_s=60,
        hops=((SHOP, MOBILE, "unconditional"),),
        legs=(leg,),
        ladder=tuple(Ladder(at(s), source, target, label) for s, source, target, label in arrows),
    )


def call_abroad() -> CallResult:
    """The shop calls a Belgian mobile for two minutes, outside the bundle."""
    arrows = [
        (100.0, SHOP, "core", f"INVITE {BRUSSELS}"),
        (100.0, "core", BRUSSELS, "INVITE"),
        (102.0, BRUSSELS, "core", "200 OK"),
        (102.0, "core", SHOP, "200 OK"),
        (222.0, SHOP, "core", "BYE"),
    ]
    leg = PricedLeg(
        account="shop",
        line="voip",
        caller=SHOP,
        callee=BRUSSELS,
        duration_s=120,
        disposition="answered",
        forwarded_from=None,
        forward_reason=None,
        kind="international-mobile",
        price_eur=Decimal("0.34"),
        rule="mobiles abroad, zone 1",
    )
    return CallResult(
        id="c2",
        caller=SHOP,
        dialled=BRUSSELS,
        answered_by=BRUSSELS,
        status=200,
        disposition="answered",
        duration_s=120,
        hops=(),
        legs=(leg,),
        ladder=tuple(Ladder(at(s), source, target, label) for s, source, target, label in arrows),
    )


def forwarding_lab() -> LabResult:
    """A run where the price expected for the call abroad does not hold."""
    steps = [
        StepResult(1, "provision", "provision shop", True, at=at(0), line=18),
        StepResult(
            2,
            "forwarding",
            f"shop.voip forwards unconditionally to {MOBILE}",
            None,
            at=at(0),
            line=20,
        ),
        StepResult(3, "call", f"c1: {OFFICE} calls shop.voip", None, at=at(0), line=22),
        StepResult(4, "expect", "call c1 forwarded unconditional", True, at=at(62), line=24),
        StepResult(5, "call", f"c2: shop.voip calls {BRUSSELS}", None, at=at(100), line=27),
        StepResult(
            6,
            "expect",
            'call c2 price_eur "0.30"',
            False,
            detail="price_eur: 0.34 EUR HT, expected 0.30",
            at=at(222),
            line=29,
        ),
        StepResult(7, "advance", "to end-of-month", None, at=at(222), line=31),
        StepResult(8, "expect", 'invoice shop total_eur "80.43"', True, line=33),
    ]
    invoice = InvoiceResult(
        account="shop",
        offer="optimale-pro-intense",
        month="2026-11",
        lines=(
            InvoiceLine("Optimale pro intense", Decimal("75.00")),
            InvoiceLine("Livebox pro rental", Decimal("5.00")),
            InvoiceLine("call forwarding activation", Decimal("0.09")),
            InvoiceLine("calls", Decimal("0.34")),
        ),
        total_eur=Decimal("80.43"),
    )
    return LabResult(
        scenario="forwarding-matrix",
        description="The shop forwards to the owner's mobile and calls Brussels.",
        source="labs/scenarios/forwarding-matrix.yaml",
        started=START,
        steps=steps,
        calls=[forwarded_call(), call_abroad()],
        invoices=[invoice],
        wall_s=1.25,
    )


def sync_lab() -> LabResult:
    """A run with no calls and no invoices, whose shaped link could not be made here."""
    return LabResult(
        scenario="dsl-sync",
        description="",
        source="labs/scenarios/dsl-sync.yaml",
        started=START,
        steps=[
            StepResult(1, "fault", "shop: dsl-loss-of-sync", None, at=at(0), line=9),
            StepResult(2, "expect", "box shop wan down", True, at=at(0), line=10),
        ],
        skipped=["shaped link: not root"],
        wall_s=0.5,
    )


def both() -> list[LabResult]:
    return [forwarding_lab(), sync_lab()]


def console_text(render: Any) -> str:
    console = Console(file=io.StringIO(), width=220, record=True, color_system=None)
    render(console)
    return console.export_text()


# --- a small DOM from html.parser, strict about nesting ---------------------------------------

VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str, css: str | None = None) -> list[Node]:
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and (css is None or css in child.classes):
                    found.append(child)
                found += child.all(tag, css)
        return found

    def one(self, tag: str, css: str | None = None) -> Node:
        (found,) = self.all(tag, css)
        return found


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def html_of(results: list[LabResult], tmp_path: Path) -> Node:
    path = tmp_path / "report.html"
    write_html(results, path)
    return parse_html(path.read_text(encoding="utf-8"))


def section(page: Node, scenario: str) -> Node:
    (found,) = [s for s in page.all("section", "scenario") if scenario in s.one("h2").text()]
    return found


# --- console ------------------------------------------------------------------------------------


def test_summary_table_gives_each_scenario_its_expectations_calls_price_and_verdict() -> None:
    out = console_text(lambda console: console.print(summary_table(both())))
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if (cells := [cell.strip() for cell in line.split("│")[1:-1]]) and cells[0]
    }
    assert rows["forwarding-matrix"] == ["8", "2/3", "2", "0.34", "failed"]
    assert rows["dsl-sync"] == ["2", "1/1", "0", "0.00", "passed, 1 skipped"]


def test_steps_table_lists_every_step_with_its_line_and_outcome() -> None:
    matrix = both()[0]
    out = console_text(lambda console: console.print(steps_table(matrix)))
    assert f"{matrix.scenario}: steps" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) >= len(matrix.steps)
    failing = next(row for row in rows if " 06 " in row)
    for text in ("29", "expect", "not met"):
        assert text in failing
    assert "price_eur: 0.34 EUR HT" in out


def test_lab_run_ends_with_the_failing_step_its_line_and_detail_then_the_tables() -> None:
    out = console_text(lambda console: render_summary(both(), console))
    failure = (
        'labs/scenarios/forwarding-matrix.yaml:29: 06 expect: call c2 price_eur "0.30": '
        "price_eur: 0.34 EUR HT, expected 0.30"
    )
    assert "forwarding-matrix: 1 failing step" in out
    assert failure in out
    assert "dsl-sync: skipped: shaped link: not root" in out
    assert out.index(failure) < out.index("forwarding-matrix: steps") < out.index("Lab results")
    assert "dsl-sync: 1 failing" not in out


def test_markup_in_a_summary_is_printed_as_written() -> None:
    lab = sync_lab()
    lab.steps[1] = replace(lab.steps[1], ok=False, detail="[bold]wan[/bold] is [red]up[/red]")
    out = console_text(lambda console: render_summary([lab], console))
    assert "[bold]wan[/bold] is [red]up[/red]" in out


def test_step_without_line_is_placed_in_its_file() -> None:
    lab = sync_lab()
    lab.steps[1] = replace(lab.steps[1], ok=False, line=None, detail="wan is up")
    out = console_text(lambda console: render_summary([lab], console))
    assert "labs/scenarios/dsl-sync.yaml: 02 expect: box shop wan down: wan is up" in out


# --- JSON ---------------------------------------------------------------------------------------


def test_json_file_reads_back_as_the_report(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(both(), path)
    assert json.loads(path.read_text(encoding="utf-8")) == to_json(both())


def test_json_gives_money_as_decimal_strings(tmp_path: Path) -> None:
    report = to_json(both())
    matrix = report["scenarios"][0]
    assert matrix["calls_eur"] == "0.34"
    assert [call["price_eur"] for call in matrix["calls"]] == ["0.00", "0.34"]
    assert matrix["invoices"][0]["total_eur"] == "80.43"
    assert matrix["invoices"][0]["lines"][2] == {
        "label": "call forwarding activation",
        "amount_eur": "0.09",
    }

    def money(value: Any, key: str = "") -> list[Any]:
        if isinstance(value, dict):
            return [m for k, v in value.items() for m in money(v, k)]
        if isinstance(value, list):
            return [m for v in value for m in money(v, key)]
        return [value] if key.endswith("_eur") else []

    assert money(report)
    assert all(isinstance(amount, str) for amount in money(report))


def test_json_never_writes_an_exponent_for_money() -> None:
    lab = forwarding_lab()
    lab.invoices[0] = replace(lab.invoices[0], total_eur=Decimal("1E+2"))
    assert to_json([lab])["scenarios"][0]["invoices"][0]["total_eur"] == "100"


def test_json_carries_verdicts_steps_forwarding_and_ladder() -> None:
    report = to_json(both())
    assert (report["ok"], report["passed"], report["failed"]) == (False, 1, 1)
    matrix, sync = report["scenarios"]
    assert (matrix["verdict"], sync["verdict"]) == ("failed", "passed")
    assert matrix["expectations"] == {"met": 2, "total": 3}
    assert matrix["started"] == "2026-11-30T09:00:00+01:00"
    assert matrix["steps"][5] == {
        "index": 6,
        "kind": "expect",
        "summary": 'call c2 price_eur "0.30"',
        "ok": False,
        "outcome": "not met",
        "detail": "price_eur: 0.34 EUR HT, expected 0.30",
        "at": "2026-11-30T09:03:42+01:00",
        "line": 29,
    }
    c1 = matrix["calls"][0]
    assert c1["hops"] == [{"forwarder": SHOP, "target": MOBILE, "reason": "unconditional"}]
    assert c1["legs"][0]["forwarded_from"] == SHOP
    assert len(c1["ladder"]) == 9
    assert c1["ladder"][2] == {
        "at": "2026-11-30T09:00:00.050000+01:00",
        "source": "core",
        "target": MOBILE,
        "label": "INVITE",
    }
    assert (sync["calls"], sync["invoices"], sync["skipped"]) == ([], [], ["shaped link: not root"])


# --- JUnit XML ----------------------------------------------------------------------------------


def junit_of(results: list[LabResult], tmp_path: Path) -> ET.Element:
    path = tmp_path / "report.xml"
    write_junit(results, path)
    return ET.parse(path).getroot()


def test_junit_has_a_suite_per_scenario_and_a_case_per_step(tmp_path: Path) -> None:
    root = junit_of(both(), tmp_path)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == ["forwarding-matrix", "dsl-sync"]
    names = [case.get("name") for case in suites[0].findall("testcase")]
    assert names[:3] == [
        "01 provision: provision shop",
        f"02 forwarding: shop.voip forwards unconditionally to {MOBILE}",
        f"03 call: c1: {OFFICE} calls shop.voip",
    ]
    assert len(names) == 8
    assert {case.get("classname") for case in suites[0].iter("testcase")} == {"forwarding-matrix"}


def test_junit_failure_names_the_expectation_not_met(tmp_path: Path) -> None:
    root = junit_of(both(), tmp_path)
    failures = list(root.iter("failure"))
    assert len(failures) == 1
    assert failures[0].get("message") == "price_eur: 0.34 EUR HT, expected 0.30"
    assert failures[0].get("type") == "expect"
    assert "forwarding-matrix.yaml:29" in (failures[0].text or "")
    (case,) = [case for case in root.iter("testcase") if case.find("failure") is not None]
    assert case.get("name") == '06 expect: call c2 price_eur "0.30"'


def test_junit_counts_times_and_skipped_work(tmp_path: Path) -> None:
    root = junit_of(both(), tmp_path)
    expected = {"tests": "11", "failures": "1", "errors": "0", "skipped": "1", "time": "1.750"}
    assert {key: root.get(key) for key in expected} == expected
    matrix, sync = root.findall("testsuite")
    assert (matrix.get("tests"), matrix.get("failures"), matrix.get("time")) == ("8", "1", "1.250")
    assert matrix.get("timestamp") == "2026-11-30T08:00:00"
    assert all(case.get("time") == "0.000" for case in root.iter("testcase"))
    (skipped,) = sync.iter("skipped")
    assert skipped.get("message") == "shaped link: not root"
    assert (sync.get("tests"), sync.get("skipped")) == ("3", "1")
    properties = {p.get("name"): p.get("value") for p in matrix.iter("property")}
    assert properties["source"] == "labs/scenarios/forwarding-matrix.yaml"


def test_junit_survives_terminal_escapes_and_nul_in_a_detail(tmp_path: Path) -> None:
    lab = sync_lab()
    lab.steps[1] = replace(lab.steps[1], ok=False, detail="\x1b[31mdown\x1b[0m\x00 <&>")
    (failure,) = junit_of([lab], tmp_path).iter("failure")
    assert failure.get("message") == "\\x1b[31mdown\\x1b[0m\\x00 <&>"


# --- HTML ---------------------------------------------------------------------------------------


def test_html_needs_no_script_and_no_network(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(both(), path)
    text = path.read_text(encoding="utf-8")
    page = parse_html(text)
    assert not page.all("script")
    assert not page.all("link")
    assert "http" not in text
    assert "url(" not in text
    assert all(a.attrs["href"].startswith("#") for a in page.all("a"))
    assert page.one("style").text().strip()


def test_html_heads_each_scenario_with_its_verdict(tmp_path: Path) -> None:
    page = html_of(both(), tmp_path)
    matrix, sync = page.all("section", "scenario")
    assert "failed" in matrix.classes
    assert matrix.one("span", "verdict").text() == "failed"
    assert sync.one("span", "verdict").text() == "passed"
    assert "Skipped: shaped link: not root" in sync.one("p", "skipped").text()
    overview = page.one("table", "overview")
    links = [a.attrs["href"] for a in overview.all("a")]
    assert links == [f"#{matrix.attrs['id']}", f"#{sync.attrs['id']}"]


def test_html_marks_the_step_whose_expectation_does_not_hold(tmp_path: Path) -> None:
    page = html_of(both(), tmp_path)
    steps = section(page, "forwarding-matrix").one("table", "steps")
    rows = steps.one("tbody").all("tr")
    assert len(rows) == 8
    (failing,) = [row for row in rows if "failed" in row.classes]
    cells = [cell.text() for cell in failing.all("td")]
    assert cells[0:2] == ["06", "29"]
    assert cells[5:] == ["not met", "price_eur: 0.34 EUR HT, expected 0.30"]
    met = [row for row in rows if "met" in row.classes]
    assert len(met) == 2


def test_ladder_has_a_line_per_party_and_an_arrow_per_message(tmp_path: Path) -> None:
    page = html_of(both(), tmp_path)
    c1, c2 = section(page, "forwarding-matrix").all("article", "call")
    ladder = c1.one("svg", "ladder")
    lifelines = ladder.all("line", "lifeline")
    assert len(lifelines) == 3
    parties = [text.text() for text in ladder.all("text", "party")]
    assert parties == [OFFICE + OFFICE, "core" + "core", MOBILE + MOBILE]  # title, then name
    arrows = ladder.all("g", "arrow")
    assert len(arrows) == len(forwarded_call().ladder)
    for arrow, sent in zip(arrows, forwarded_call().ladder, strict=True):
        assert sent.label in arrow.one("title").text()
        assert sent.at.isoformat() in arrow.one("title").text()
    assert [t.text() for t in arrows[2].all("text")] == ["09:00:00.050", "INVITE"]
    assert len(c2.one("svg", "ladder").all("line", "lifeline")) == 3
    assert len(c2.one("svg", "ladder").all("g", "arrow")) == 5


def test_forwarded_leg_stands_out_in_the_ladder_and_the_priced_legs(tmp_path: Path) -> None:
    page = html_of(both(), tmp_path)
    c1, c2 = section(page, "forwarding-matrix").all("article", "call")
    ladder = c1.one("svg", "ladder")
    forwarded = [a.one("title").text() for a in ladder.all("g", "forwarded")]
    # every message to or from the mobile, and the exchange's note that it forwarded
    assert len(forwarded) == 5
    assert all(MOBILE in title for title in forwarded)
    (mobile_line,) = ladder.all("line", "forwarded")
    assert "lifeline" in mobile_line.classes
    assert f"{SHOP} → {MOBILE} (unconditional)" in c1.one("p", "hops").text()
    (leg,) = c1.one("table", "legs").one("tbody").all("tr")
    assert "forwarded" in leg.classes
    assert SHOP in [cell.text() for cell in leg.all("td")]
    assert not c2.one("svg", "ladder").all("g", "forwarded")


def test_self_arrow_is_drawn_as_a_loop(tmp_path: Path) -> None:
    page = html_of([forwarding_lab()], tmp_path)
    note = page.all("g", "arrow")[1]
    assert note.all("path")
    assert not note.all("line")
    assert note.one("text", "note").text().startswith(f"forwarded by {SHOP}")


def test_html_shows_invoices_as_tables(tmp_path: Path) -> None:
    page = html_of(both(), tmp_path)
    invoice = section(page, "forwarding-matrix").one("table", "invoice")
    assert invoice.one("caption").text() == "Invoice of shop, optimale-pro-intense, 2026-11"
    rows = [[c.text() for c in row.all("td")] for row in invoice.one("tbody").all("tr")]
    assert rows[0] == ["Optimale pro intense", "75.00"]
    assert [c.text() for c in invoice.one("tfoot").all("td")] == ["total", "80.43"]


def test_scenario_without_calls_or_invoices_renders(tmp_path: Path) -> None:
    page = html_of([sync_lab()], tmp_path)
    sync = section(page, "dsl-sync")
    assert not sync.all("svg")
    assert not sync.all("table", "invoice")
    empty = [p.text() for p in sync.all("p", "empty")]
    assert empty == ["No calls.", "No invoices."]


def test_call_without_signalling_or_legs_renders(tmp_path: Path) -> None:
    lab = sync_lab()
    lab.calls.append(replace(call_abroad(), ladder=(), legs=(), answered_by=None, status=None))
    call = html_of([lab], tmp_path).one("article", "call")
    empty = [p.text() for p in call.all("p", "empty")]
    assert empty == ["No signalling recorded for this call.", "No priced legs."]
    assert "not answered" in call.one("p", "facts").text()


def test_html_escapes_everything_it_is_given(tmp_path: Path) -> None:
    lab = forwarding_lab()
    hostile = '<script>alert("x")</script>&'
    lab.scenario = hostile
    lab.steps[0] = replace(lab.steps[0], summary=hostile, detail=hostile)
    call = forwarded_call()
    arrow = replace(call.ladder[0], source=hostile, label=hostile)
    lab.calls = [replace(call, id=hostile, ladder=(arrow, *call.ladder[1:]))]
    lab.invoices = [replace(lab.invoices[0], account=hostile)]
    text = to_html([lab])
    assert "<script" not in text
    page = parse_html(text)
    assert not page.all("script")
    assert hostile in page.one("h2").text()
    assert hostile in page.one("table", "steps").text()
    assert hostile in page.one("article", "call").one("h4").text()
    assert hostile in page.one("svg").all("text", "party")[0].text()
    assert hostile in page.one("table", "invoice").one("caption").text()


def test_no_scenario_at_all_gives_empty_reports(tmp_path: Path) -> None:
    page = html_of([], tmp_path)
    assert page.one("p", "totals").text() == "0 scenarios: 0 passed, 0 failed."
    assert to_json([]) == {"ok": True, "passed": 0, "failed": 0, "scenarios": []}
    assert junit_of([], tmp_path).get("tests") == "0"


@pytest.mark.parametrize("write", [write_json, write_junit, write_html])
def test_same_runs_give_the_same_file(tmp_path: Path, write: Any) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write(both(), first)
    write(both(), second)
    assert first.read_bytes() == second.read_bytes()


# --- where the reports go -------------------------------------------------------------------------


@pytest.mark.parametrize("write", [write_json, write_junit, write_html])
def test_report_folders_are_made(tmp_path: Path, write: Any) -> None:
    path = tmp_path / "out" / "lab" / "report"
    write(both(), path)
    assert path.read_text(encoding="utf-8")


@pytest.mark.parametrize("write", [write_json, write_junit, write_html])
def test_report_into_a_folder_is_refused(tmp_path: Path, write: Any) -> None:
    (tmp_path / "report").mkdir()
    with pytest.raises(ReportError, match=r"report: is a folder; give the report a file name"):
        write(both(), tmp_path / "report")


def test_report_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    with pytest.raises(ReportError, match=r"cannot make its folder .*out: a file is in the way"):
        write_json(both(), tmp_path / "out" / "report.json")
