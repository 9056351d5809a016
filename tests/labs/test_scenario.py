"""Lab scenario files: every step kind loads; each mistake names its line and why."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.dsl import Technology
from labs.scenario import (
    DEFAULT_OFFER,
    DEFAULT_START,
    SCHEMA_ID,
    SCHEMA_PATH,
    STEP_KINDS,
    AdvanceStep,
    Bench,
    BoxLine,
    BoxSpec,
    CallStep,
    ContinuityStep,
    ExpectStep,
    FaultKind,
    FaultStep,
    ForwardingStep,
    KbpsRange,
    ProvisionStep,
    RestoreStep,
    Scenario,
    ScenarioError,
    StarCodeStep,
    load_scenario,
    load_scenario_text,
    parse_endpoint,
    scenario_schema,
    schema_text,
)
from profiles.model import LineName
from profiles.records import Disposition, ForwardReason

SHIPPED = sorted((Path(__file__).parents[2] / "labs" / "scenarios").glob("*.yaml"))

FULL = """\
name: forwarding-matrix
description: "Every kind of step, once or more"
start: 2026-11-30T09:00:00+01:00
bench:
  offer: optimale-pro-intense
  boxes:
    - name: shop
      offer: optimale-pro-equilibre
      technology: adsl2+
      attenuation_db: 30.5
      site: sites/shop.yaml
    - {name: fleet, count: 3, misbehaves: true}
  phones:
    - number: "06 12 34 56 78"
      name: Mobile
      answer_after_s: 2
    - {number: "+33145000000", answer_after_s: null, busy: true}
steps:
  - provision: {box: shop, check: false, expect: changed}
  - provision: {box: fleet, canary: 1, max_failures: 0, concurrency: 2}
  - forwarding:
      box: shop
      unconditional: "+33612345678"
      busy: null
      ring_timeout_s: 20
  - call: {id: c1, from: "+33145000000", to: shop.voip, answer: true, ring_s: 2, duration_s: 60}
  - star_code: {box: shop, dial: "*21*0612345678#"}
  - continuity: {box: shop, number: "06 12 34 56 78"}
  - fault: {box: shop, kind: classic-line-down}
  - call: {id: c2, from: shop.classic, to: "01 45 00 00 00", answer: busy, hold_s: 30}
  - advance: {seconds: 3600}
  - restore: {box: shop, kind: classic-line-down}
  - forwarding: {box: shop, clear: true}
  - advance: {hours: 26}
  - advance: {days: 2}
  - advance: {to: end-of-month}
  - advance: {to: "2026-12-31T23:00:00+01:00"}
  - expect:
      call: c1
      reached: "+33612345678"
      status: 200
      disposition: answered
      forwarded: unconditional
      hops: 1
      price_eur: "0.00"
      duration_s: 60
  - expect: {box: shop, line_status: Up, dsl_down_kbps: {min: 20000, max: 50000}, wan: up,
             provisioned: changed}
  - expect: {box: fleet-2, dsl_up_kbps: {max: 8000}}
  - expect: {invoice: shop, total_eur: "70.00", calls_eur: "0", fees_eur: "0.09", month: "2026-11"}
  - expect: {sla: shop, met: true, penalty_eur: "0"}
  - expect: {fleet: fleet, succeeded: 0, failed: 3, stopped: false}
  - traffic: {box: shop, calls: 40, correspondents: 30, mobile_share: 0.3, abroad_share: 0.1,
              duration_s: {min: 30, max: 600}, days: 10, seed: 7}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where scenarios are written, with the site file the full scenario provisions."""
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "shop.yaml").write_text("offer: optimale-pro-equilibre\n")
    return tmp_path


def written(text: str, fragment: str, nth: int = 1) -> int:
    """The line of the text where `fragment` is written for the nth time."""
    lines = [number for number, line in enumerate(text.splitlines(), 1) if fragment in line]
    return lines[nth - 1]


def edited(old: str, new: str) -> str:
    assert old in FULL, old
    return FULL.replace(old, new, 1)


def mistake(folder: Path, text: str) -> ScenarioError:
    path = folder / "lab.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value


# --- A scenario that holds -------------------------------------------------------------------


def test_full_scenario_loads_with_every_step_kind(folder: Path) -> None:
    path = folder / "lab.yaml"
    path.write_text(FULL)
    scenario = load_scenario(path)
    assert {step.step_kind for step in scenario.steps} == set(STEP_KINDS)
    assert scenario.name == "forwarding-matrix"
    assert scenario.path == path
    assert scenario.start == dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    assert scenario.start.utcoffset() == dt.timedelta(hours=1)


def test_each_step_knows_its_line_in_the_file(folder: Path) -> None:
    scenario = load_scenario_text(FULL, folder / "lab.yaml")
    items = [n for n, line in enumerate(FULL.splitlines(), 1) if line.startswith("  - ")]
    assert scenario.step_lines() == items


def test_boxes_take_the_bench_offer_unless_they_name_their_own(folder: Path) -> None:
    bench = load_scenario_text(FULL, folder / "lab.yaml").bench
    shop, fleet = bench.boxes
    assert (shop.offer, fleet.offer) == ("optimale-pro-equilibre", "optimale-pro-intense")
    assert (shop.technology, fleet.technology) == (Technology.ADSL2_PLUS, Technology.VDSL2)
    assert (shop.attenuation_db, fleet.attenuation_db) == (30.5, 12.0)
    assert (shop.misbehaves, fleet.misbehaves) == (False, True)


def test_a_counted_box_is_many_boxes_and_a_group(folder: Path) -> None:
    bench = load_scenario_text(FULL, folder / "lab.yaml").bench
    assert bench.box_names() == ["shop", "fleet-1", "fleet-2", "fleet-3"]
    assert bench.targets("fleet") == ["fleet-1", "fleet-2", "fleet-3"]
    assert bench.targets("fleet-2") == ["fleet-2"]
    assert bench.spec("fleet-3").name == "fleet"
    with pytest.raises(KeyError, match="no box named 'cafe'"):
        bench.targets("cafe")


def test_site_files_are_read_beside_the_scenario_and_kept_absolute(folder: Path) -> None:
    shop = load_scenario_text(FULL, folder / "lab.yaml").bench.boxes[0]
    assert shop.site == (folder / "sites" / "shop.yaml").resolve()
    assert shop.site.is_absolute()


def test_phones_keep_their_numbers_in_e164(folder: Path) -> None:
    mobile, office = load_scenario_text(FULL, folder / "lab.yaml").bench.phones
    assert (mobile.number, mobile.name, mobile.answer_after_s) == ("+33612345678", "Mobile", 2.0)
    assert (office.number, office.answer_after_s, office.busy) == ("+33145000000", None, True)


def test_call_ends_keep_box_lines_as_written_and_numbers_in_e164(folder: Path) -> None:
    steps = load_scenario_text(FULL, folder / "lab.yaml").steps
    first, second = (step for step in steps if isinstance(step, CallStep))
    assert (first.id, first.caller, first.to, first.answer) == (
        "c1",
        "+33145000000",
        "shop.voip",
        True,
    )
    assert (first.ring_s, first.duration_s, first.hold_s) == (2.0, 60.0, 60.0)
    assert (second.caller, second.to, second.answer) == ("shop.classic", "+33145000000", "busy")
    assert second.hold_s == 30.0


def test_forwarding_tells_a_rule_left_out_from_a_rule_turned_off(folder: Path) -> None:
    steps = load_scenario_text(FULL, folder / "lab.yaml").steps
    write, clear = (step for step in steps if isinstance(step, ForwardingStep))
    assert (write.unconditional, write.busy, write.no_answer) == ("+33612345678", None, None)
    assert "busy" in write.model_fields_set
    assert "no_answer" not in write.model_fields_set
    assert write.ring_timeout_s == 20
    assert clear.clear


def test_the_other_steps_as_read(folder: Path) -> None:
    steps = load_scenario_text(FULL, folder / "lab.yaml").steps
    provision, group = (step for step in steps if isinstance(step, ProvisionStep))
    assert (provision.box, provision.check, provision.expect) == ("shop", False, "changed")
    assert (group.canary, group.max_failures, group.concurrency) == (1, 0, 2)
    star = next(step for step in steps if isinstance(step, StarCodeStep))
    assert star.dial == "*21*0612345678#"
    continuity = next(step for step in steps if isinstance(step, ContinuityStep))
    assert continuity.number == "+33612345678"
    fault = next(step for step in steps if isinstance(step, FaultStep))
    restore = next(step for step in steps if isinstance(step, RestoreStep))
    assert fault.kind is restore.kind is FaultKind.CLASSIC_LINE_DOWN


def test_advances_last_a_while_or_run_to_a_moment(folder: Path) -> None:
    steps = load_scenario_text(FULL, folder / "lab.yaml").steps
    advances = [step for step in steps if isinstance(step, AdvanceStep)]
    assert [step.delta for step in advances] == [
        dt.timedelta(hours=1),
        dt.timedelta(hours=26),
        dt.timedelta(days=2),
        None,
        None,
    ]
    assert advances[3].to == "end-of-month"
    assert advances[4].to == dt.datetime(2026, 12, 31, 22, 0, tzinfo=dt.UTC)


def test_expectations_have_one_subject_and_their_checks(folder: Path) -> None:
    steps = load_scenario_text(FULL, folder / "lab.yaml").steps
    call, box, rates, invoice, sla, fleet = (s for s in steps if isinstance(s, ExpectStep))
    assert (call.subject_kind, call.subject) == ("call", "c1")
    assert call.checks == {
        "reached": "+33612345678",
        "status": 200,
        "disposition": Disposition.ANSWERED,
        "forwarded": ForwardReason.UNCONDITIONAL,
        "hops": 1,
        "price_eur": Decimal("0.00"),
        "duration_s": 60,
    }
    assert box.checks["dsl_down_kbps"] == KbpsRange(min=20000, max=50000)
    assert 30000 in KbpsRange(min=20000, max=50000)
    assert 9000 not in KbpsRange(max=8000)
    assert (rates.subject_kind, rates.subject) == ("box", "fleet-2")
    assert invoice.checks == {
        "total_eur": Decimal("70.00"),
        "calls_eur": Decimal("0"),
        "fees_eur": Decimal("0.09"),
    }
    assert invoice.month == "2026-11"
    assert sla.checks == {"met": True, "penalty_eur": Decimal("0")}
    assert fleet.checks == {"succeeded": 0, "failed": 3, "stopped": False}


def test_what_a_scenario_leaves_out_takes_its_default(tmp_path: Path) -> None:
    text = """\
name: smallest
bench:
  boxes: [{name: shop}]
  phones: [{number: "+33612345678"}]
steps:
  - call: {from: "+33612345678", to: shop.voip}
"""
    scenario = load_scenario_text(text, tmp_path / "small.yaml")
    assert (scenario.description, scenario.start) == ("", DEFAULT_START)
    box = scenario.bench.boxes[0]
    assert (box.count, box.offer, box.site, box.misbehaves) == (1, DEFAULT_OFFER, None, False)
    phone = scenario.bench.phones[0]
    assert (phone.name, phone.answer_after_s, phone.busy) == ("", 2.0, False)
    call = scenario.steps[0]
    assert isinstance(call, CallStep)
    assert (call.id, call.answer, call.ring_s, call.duration_s, call.hold_s) == (
        None,
        True,
        2.0,
        60.0,
        60.0,
    )


def test_a_scenario_built_in_python_uses_the_python_names(tmp_path: Path) -> None:
    scenario = Scenario(
        name="by-hand",
        bench=Bench(boxes=[BoxSpec(name="shop")]),
        steps=[
            CallStep(caller="06 12 34 56 78", to="shop.voip"),
            ExpectStep(box="shop", wan="up"),
        ],
        path=tmp_path / "by-hand.yaml",
    )
    call = scenario.steps[0]
    assert isinstance(call, CallStep)
    assert call.caller == "+33612345678"
    assert scenario.step_lines() == [None, None]


def test_a_step_built_in_python_is_checked_like_a_written_one() -> None:
    with pytest.raises(ValueError, match="expect box shop checks nothing"):
        ExpectStep(box="shop")


def test_endpoints_name_a_box_line_or_nothing() -> None:
    assert parse_endpoint("shop-2.classic") == BoxLine("shop-2", LineName.CLASSIC)
    assert str(parse_endpoint("shop.voip")) == "shop.voip"
    assert parse_endpoint("+33612345678") is None
    assert parse_endpoint("shop.mobile") is None


# --- Mistakes, each with its line and reason ------------------------------------------------


def test_a_mistake_is_reported_as_file_line_field_and_reason(folder: Path) -> None:
    text = edited("to: shop.voip", "to: cafe.voip")
    error = mistake(folder, text)
    line = written(text, "cafe.voip")
    assert (error.path, error.line, error.field) == (folder / "lab.yaml", line, "steps.3.call.to")
    assert error.reason == "no box named 'cafe' on the bench; it has shop, fleet-1 to fleet-3"
    assert str(error) == f"{folder / 'lab.yaml'}:{line}: steps.3.call.to: {error.reason}"


def test_bad_yaml_names_its_line(folder: Path) -> None:
    text = edited("    - name: shop\n", "    - name: shop\n   oops: [\n")
    error = mistake(folder, text)
    assert error.line == written(text, "oops")
    assert error.field is None
    assert error.reason.startswith("not valid YAML: ")


def test_a_key_written_twice_is_refused(folder: Path) -> None:
    text = edited(
        "      technology: adsl2+\n", "      technology: adsl2+\n      technology: vdsl2\n"
    )
    error = mistake(folder, text)
    assert error.line == written(text, "technology: vdsl2")
    assert "found the key 'technology' twice" in error.reason
    assert f"first on line {written(text, 'technology: adsl2+')}" in error.reason


def test_unknown_step_key(folder: Path) -> None:
    text = edited("  - star_code:", "  - dial_code:")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "dial_code"), "steps.4.dial_code")
    assert error.reason.startswith("unknown step 'dial_code'; kinds: provision, call,")


def test_two_keys_in_one_step(folder: Path) -> None:
    text = edited(
        "  - fault: {box: shop, kind: classic-line-down}\n",
        "  - fault: {box: shop, kind: classic-line-down}\n    advance: {seconds: 60}\n",
    )
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "    advance:"), "steps.6.advance")
    assert "a step has exactly one kind; this one has fault, advance" in error.reason


def test_a_step_that_is_no_mapping(folder: Path) -> None:
    text = edited("  - advance: {seconds: 3600}", "  - advance")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "  - advance"), "steps.8")
    assert error.reason.startswith("a step is a mapping of one kind to its fields")


def test_a_step_whose_fields_are_no_mapping(folder: Path) -> None:
    text = edited("  - advance: {seconds: 3600}", "  - advance: 3600")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "advance: 3600"), "steps.8.advance")
    assert "an advance step is a mapping of its fields (seconds, to, days, hours)" in error.reason


def test_unknown_box(folder: Path) -> None:
    text = edited("  - star_code: {box: shop", "  - star_code: {box: cafe")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "box: cafe"), "steps.4.star_code.box")
    assert error.reason.startswith("no box named 'cafe' on the bench")


def test_a_one_box_step_cannot_name_a_group(folder: Path) -> None:
    text = edited("  - star_code: {box: shop", "  - star_code: {box: fleet")
    error = mistake(folder, text)
    line = written(text, "star_code: {box: fleet")
    assert (error.line, error.field) == (line, "steps.4.star_code.box")
    assert error.reason == (
        "'fleet' is a group of 3 boxes (fleet-1 to fleet-3); this step acts on one box: name"
        " one of them"
    )
    error = mistake(folder, edited("{box: fleet-2, dsl_up", "{box: fleet, dsl_up"))
    assert error.field == "steps.17.expect.box"


def test_faults_and_forwarding_may_name_a_group(folder: Path) -> None:
    text = edited(
        "  - advance: {hours: 26}\n",
        "  - fault: {box: fleet, kind: management-cut}\n"
        '  - forwarding: {box: fleet, busy: "0612345678"}\n'
        "  - restore: {box: fleet-2, kind: management-cut}\n"
        "  - expect: {sla: fleet-2, met: true}\n",
    )
    scenario = load_scenario_text(text, folder / "lab.yaml")
    assert scenario.bench.targets("fleet") == ["fleet-1", "fleet-2", "fleet-3"]
    error = mistake(folder, text.replace("{sla: fleet-2, met", "{sla: fleet-3, met"))
    assert error.reason.startswith("no fault of fleet-3 is restored before this step")


def test_unknown_call_id(folder: Path) -> None:
    text = edited("      call: c1", "      call: c9")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "call: c9"), "steps.15.expect.call")
    assert error.reason == "no call with id 'c9' before this step; ids so far: c1, c2"


def test_a_call_id_is_referred_to_after_its_call_only(folder: Path) -> None:
    text = edited(
        "  - provision: {box: shop, check",
        "  - expect: {call: c1, status: 200}\n  - provision: {box: shop, check",
    )
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "call: c1, status"), "steps.0.expect.call")
    assert error.reason == "no call with id 'c1' before this step"


def test_a_call_id_is_given_once(folder: Path) -> None:
    text = edited("{id: c2,", "{id: c1,")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "from: shop.classic"), "steps.7.call.id")
    assert error.reason == "call id 'c1' is already used (steps.3)"


def test_bad_number(folder: Path) -> None:
    text = edited('to: "01 45 00 00 00"', 'to: "01 45 00"')
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, '"01 45 00"'), "steps.7.call.to")
    assert error.reason == (
        "'01 45 00': a French national number has 10 digits, not 6; a call's end is a number,"
        " <box>.voip or <box>.classic"
    )


def test_an_unquoted_number_is_an_integer_to_yaml(folder: Path) -> None:
    text = edited('- {number: "+33145000000"', "- {number: +33145000000")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "number: +33"), "bench.phones.1.number")
    assert error.reason == (
        'write phone numbers as quoted strings ("+33612345678"); YAML read this one as the'
        " number 33145000000"
    )


def test_a_call_to_the_line_of_an_unknown_box(folder: Path) -> None:
    text = edited("from: shop.classic", "from: cafe.classic")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "cafe.classic"), "steps.7.call.from")
    assert error.reason.startswith("no box named 'cafe' on the bench")


def test_float_money(folder: Path) -> None:
    text = edited('price_eur: "0.00"', "price_eur: 0.42")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "price_eur"), "steps.15.expect.price_eur")
    assert error.reason == 'write amounts as quoted decimal strings ("0.42"), not numbers'


def test_money_is_a_plain_decimal_string(folder: Path) -> None:
    text = edited('total_eur: "70.00"', 'total_eur: "70,00"')
    error = mistake(folder, text)
    assert error.field == "steps.18.expect.total_eur"
    assert error.reason == "an amount is a decimal string of EUR such as \"0.42\" (read '70,00')"


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        (
            "2026-11-30T09:00:00",
            "2026-11-30T09:00:00 has no time zone; add its offset (+01:00 for Paris in winter,"
            " or Z for UTC)",
        ),
        (
            "2026-11-30",
            "2026-11-30 is a date without a time; write a date and time with its offset, e.g."
            " 2026-11-30T09:00:00+01:00",
        ),
        (
            "next monday",
            "'next monday' is not an ISO 8601 date and time such as 2026-11-30T09:00:00+01:00",
        ),
    ],
)
def test_bad_datetime(folder: Path, start: str, reason: str) -> None:
    text = edited("start: 2026-11-30T09:00:00+01:00", f"start: {start}")
    error = mistake(folder, text)
    assert (error.line, error.field, error.reason) == (3, "start", reason)


def test_an_advance_to_a_moment_needs_its_offset(folder: Path) -> None:
    text = edited('{to: "2026-12-31T23:00:00+01:00"}', "{to: 2026-12-31T23:00:00}")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "23:00:00}"), "steps.14.advance.to")
    assert error.reason.endswith("or Z for UTC); or write end-of-month")


def test_an_advance_to_the_past_is_refused(folder: Path) -> None:
    text = edited('{to: "2026-12-31T23:00:00+01:00"}', '{to: "2026-12-01T00:00:00+01:00"}')
    error = mistake(folder, text)
    assert error.field == "steps.14.advance.to"
    assert error.reason == (
        "2026-12-01T00:00:00+01:00 is in the past: by this step the simulated time is at least"
        " 2026-12-03T12:00:00+01:00"
    )


def test_an_advance_says_how_far_once(folder: Path) -> None:
    text = edited("{seconds: 3600}", "{seconds: 3600, days: 1}")
    error = mistake(folder, text)
    assert error.field == "steps.8.advance.days"
    assert error.reason == "an advance step says how far once; this one gives seconds and days"
    error = mistake(folder, edited("{seconds: 3600}", "{}"))
    assert error.reason == "an advance step says how far: seconds, days, hours or to"


def test_missing_site_file(folder: Path) -> None:
    text = edited("site: sites/shop.yaml", "site: sites/cafe.yaml")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "cafe.yaml"), "bench.boxes.0.site")
    looked = (folder / "sites" / "cafe.yaml").resolve()
    assert error.reason == f"no site file 'sites/cafe.yaml' (looked for {looked})"


def test_expect_with_no_subject(folder: Path) -> None:
    text = edited("{sla: shop, met: true", "{met: true")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "{met: true"), "steps.19.expect")
    assert error.reason == (
        "an expectation names its subject: one of call, box, invoice, sla, fleet, link"
    )


def test_expect_with_no_check(folder: Path) -> None:
    text = edited(
        '{invoice: shop, total_eur: "70.00", calls_eur: "0", fees_eur: "0.09",', "{invoice: shop,"
    )
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "{invoice: shop,"), "steps.18.expect")
    assert error.reason == (
        "expect invoice shop checks nothing; add one of total_eur, calls_eur, fees_eur"
    )


def test_expect_with_two_subjects(folder: Path) -> None:
    error = mistake(folder, edited("{sla: shop, met: true", "{sla: shop, box: shop, met: true"))
    assert error.field == "steps.19.expect.sla"
    assert error.reason == (
        "an expectation has one subject; this one names box and sla: write two expect steps"
    )


def test_expect_with_a_check_of_another_subject(folder: Path) -> None:
    error = mistake(folder, edited("{sla: shop, met: true", "{sla: shop, wan: up, met: true"))
    assert error.field == "steps.19.expect.wan"
    assert error.reason == "wan is not a check of a sla; its checks: met, penalty_eur"


def test_an_sla_expectation_needs_a_restored_fault(folder: Path) -> None:
    text = edited("  - restore: {box: shop, kind: classic-line-down}\n", "")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "{sla: shop"), "steps.18.expect.sla")
    assert error.reason == (
        "no fault of shop is restored before this step; an sla expectation is about the box's"
        " last restored fault"
    )


def test_a_provisioned_check_needs_a_provision_step(folder: Path) -> None:
    text = edited("  - provision: {box: shop, check: false, expect: changed}\n", "")
    error = mistake(folder, text)
    assert error.field == "steps.15.expect.provisioned"
    assert error.reason == "no provision step before this one provisions shop"


def test_a_restore_names_a_kind(folder: Path) -> None:
    text = edited("  - restore: {box: shop, kind: classic-line-down}", "  - restore: {box: shop}")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "restore: {box: shop}"), "steps.9.restore")
    assert error.reason == (
        "a restore step names the kind of fault it mends: classic-line-down, dsl-loss-of-sync,"
        " registrar-unreachable, management-cut"
    )


def test_a_restore_mends_an_earlier_fault(folder: Path) -> None:
    text = edited(
        "restore: {box: shop, kind: classic-line-down}",
        "restore: {box: shop, kind: management-cut}",
    )
    error = mistake(folder, text)
    assert error.field == "steps.9.restore.kind"
    assert error.reason == "no fault step before this one breaks shop with management-cut"


def test_an_unknown_field_lists_the_known_ones(folder: Path) -> None:
    text = edited("misbehaves: true", "misbehave: true")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "misbehave:"), "bench.boxes.1.misbehave")
    assert error.reason == (
        "unknown field; a box has: name, count, offer, technology, attenuation_db, site, misbehaves"
    )


def test_a_file_writes_from_not_caller(folder: Path) -> None:
    error = mistake(
        folder, edited('{id: c1, from: "+33145000000"', '{id: c1, caller: "+33145000000"')
    )
    assert error.field == "steps.3.call.caller"
    assert error.reason.startswith("unknown field; a call step has: id, from, to,")


def test_a_file_cannot_set_its_own_path(folder: Path) -> None:
    error = mistake(folder, "path: elsewhere.yaml\n" + FULL)
    assert (error.line, error.field) == (1, "path")


def test_offers_are_the_plans_of_the_catalogue(folder: Path) -> None:
    text = edited("offer: optimale-pro-equilibre", "offer: optimale-pro-essentiel")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "essentiel"), "bench.boxes.0.offer")
    assert error.reason == (
        "no offer named 'optimale-pro-essentiel'; known offers: optimale-pro-equilibre,"
        " optimale-pro-initial, optimale-pro-intense"
    )


def test_a_type_mistake_shows_what_was_read(folder: Path) -> None:
    error = mistake(folder, edited("count: 3", "count: '3'"))
    assert (error.field, error.reason) == (
        "bench.boxes.1.count",
        "Input should be a valid integer (read '3')",
    )
    error = mistake(folder, edited("technology: adsl2+", "technology: vdsl"))
    assert error.reason == "Input should be 'adsl2+' or 'vdsl2' (read 'vdsl')"


def test_forwarding_sets_rules_or_clears_them(folder: Path) -> None:
    error = mistake(
        folder, edited("{box: shop, clear: true}", "{box: shop, clear: true, busy: null}")
    )
    assert error.field == "steps.10.forwarding.busy"
    assert error.reason == "clear: true turns every rule off and takes no rule; write two steps"
    error = mistake(folder, edited("{box: shop, clear: true}", "{box: shop}"))
    assert error.field == "steps.10.forwarding"
    assert error.reason.startswith("a forwarding step sets unconditional, busy, no_answer,")


def test_calls_are_not_forwarded_to_emergency_numbers(folder: Path) -> None:
    text = edited('unconditional: "+33612345678"', 'unconditional: "112"')
    error = mistake(folder, text)
    line = written(text, '"112"')
    assert (error.line, error.field) == (line, "steps.2.forwarding.unconditional")
    assert error.reason == "'112' is an emergency number; calls are forwarded to full numbers only"


def test_a_star_code_is_one_the_exchange_knows(folder: Path) -> None:
    error = mistake(folder, edited("*21*0612345678#", "*99#"))
    assert error.field == "steps.4.star_code.dial"
    assert error.reason.startswith("'*99#': *99 is not a service code; known codes: *21")
    error = mistake(folder, edited("*21*0612345678#", "0612345678"))
    assert error.reason == "'0612345678' is not a star code; star codes start with '*' or '#'"


def test_continuity_goes_to_a_metropolitan_fixed_or_mobile_number(folder: Path) -> None:
    error = mistake(folder, edited('number: "06 12 34 56 78"}', 'number: "+44 20 7946 0000"}'))
    assert error.field == "steps.5.continuity.number"
    assert error.reason == (
        "+442079460000 is a fixed number of GB; the classic line is redirected on failure to a"
        " fixed or mobile number of metropolitan France (footnote 15 of the offer)"
    )


def test_two_boxes_cannot_share_a_name(folder: Path) -> None:
    error = mistake(folder, edited("{name: fleet, count: 3", "{name: shop, count: 1"))
    assert (error.line, error.field) == (written(FULL, "name: fleet"), "bench.boxes.1.name")
    assert error.reason == "two boxes would be named 'shop' (the other one: boxes.0)"
    error = mistake(folder, edited("{name: fleet, count: 3", "{name: shop, count: 3"))
    assert error.reason == "'shop' already names a group of boxes; give this box another name"


def test_two_phones_cannot_share_a_number(folder: Path) -> None:
    error = mistake(folder, edited('{number: "+33145000000"', '{number: "0612345678"'))
    assert error.field == "bench.phones.1.number"
    assert error.reason == "+33612345678 already has a phone (phones.0)"


def test_the_first_mistake_in_the_file_is_reported(folder: Path) -> None:
    # The model checks `start` before `bench`; the file writes the bench first.
    text = edited("start: 2026-11-30T09:00:00+01:00\n", "").replace(
        "attenuation_db: 30.5", "attenuation_db: 95"
    )
    error = mistake(folder, text + "start: next monday\n")
    assert (error.line, error.field) == (
        written(text, "attenuation_db"),
        "bench.boxes.0.attenuation_db",
    )
    assert error.reason == "Input should be less than or equal to 90 (read 95)"


def test_a_missing_field_points_at_its_mapping(folder: Path) -> None:
    text = edited("    - name: shop\n      offer:", "    - offer:")
    error = mistake(folder, text)
    assert (error.line, error.field) == (written(text, "- offer:"), "bench.boxes.0.name")
    assert error.reason == "Field required"


def test_an_empty_file_and_a_file_of_a_list(folder: Path) -> None:
    error = mistake(folder, "# nothing yet\n")
    assert (error.line, error.field) == (None, None)
    assert (
        error.reason == "the file is empty; a scenario has: name, description, start, bench, steps"
    )
    error = mistake(folder, "\n- name: x\n")
    assert (error.line, error.reason) == (
        2,
        "a scenario is a mapping of its fields (name, description, start, bench, steps)",
    )


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"absent\.yaml: cannot read the file") as caught:
        load_scenario(tmp_path / "absent.yaml")
    assert caught.value.line is None


# --- The JSON Schema ----------------------------------------------------------------------


def test_the_checked_in_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "labs/scenario.schema.json is stale: regenerate it with `python -m labs.scenario`"
    )


def test_the_schema_is_draft_2020_12_with_its_id_and_title() -> None:
    schema = scenario_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (schema["$id"], schema["title"]) == (SCHEMA_ID, "livebox-lab scenario")
    assert set(schema["properties"]) == {"name", "description", "start", "bench", "steps"}


def test_the_schema_describes_steps_as_files_write_them() -> None:
    schema = scenario_schema()
    choices = schema["properties"]["steps"]["items"]["oneOf"]
    assert [next(iter(choice["properties"])) for choice in choices] == list(STEP_KINDS)
    assert all(choice["additionalProperties"] is False for choice in choices)
    call = schema["$defs"]["CallStep"]
    assert "from" in call["properties"]
    assert "caller" not in call["properties"]
    money = schema["$defs"]["ExpectStep"]["properties"]["price_eur"]["anyOf"][0]
    assert money["type"] == "string"


def as_json(data: Any) -> Any:
    """What a YAML document says, as JSON would write it (timestamps as ISO strings)."""
    return json.loads(json.dumps(data, default=lambda value: value.isoformat()))


def validator() -> Any:
    """A draft 2020-12 validator of the schema; the test skips when jsonschema is absent."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    jsonschema.Draft202012Validator.check_schema(scenario_schema())
    return jsonschema.Draft202012Validator(scenario_schema())


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_the_schema_validates_every_shipped_scenario(path: Path) -> None:
    document = as_json(yaml.safe_load(path.read_text(encoding="utf-8")))
    validator().validate(document)


def test_the_schema_validates_the_full_scenario_and_refuses_a_bad_one() -> None:
    schema = validator()
    schema.validate(as_json(yaml.safe_load(FULL)))
    assert not schema.is_valid(as_json(yaml.safe_load(edited('"0.00"', "0.42"))))
    assert not schema.is_valid(as_json(yaml.safe_load(edited("  - star_code:", "  - dial:"))))


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_every_shipped_scenario_loads(path: Path) -> None:
    assert load_scenario(path).steps


def test_traffic_shares_and_correspondents_are_checked(folder: Path) -> None:
    def mistake(step: str) -> ScenarioError:
        text = FULL.replace(
            "  - traffic: {box: shop, calls: 40,", step + "\n  - traffic: {box: shop, calls: 40,"
        )
        with pytest.raises(ScenarioError) as caught:
            load_scenario_text(text, folder / "lab.yaml")
        return caught.value

    shares = mistake("  - traffic: {box: shop, calls: 10, mobile_share: 0.8, abroad_share: 0.3}")
    assert "mobile_share and abroad_share add up above 1" in str(shares)
    many = mistake("  - traffic: {box: shop, calls: 10, correspondents: 20}")
    assert "20 correspondents need as many calls, not 10" in str(many)
    group = mistake("  - traffic: {box: fleet, calls: 10}")
    assert "fleet" in str(group)
