"""The classic line on its exchange: star codes, transfer fees, faults, continuity, name display."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from emulator.telephony.exchange import (
    TRANSFER_ACTIVATION,
    TRANSFER_DEACTIVATION,
    Action,
    ClassicLine,
    Exchange,
    Service,
    ServiceCode,
    parse_service_code,
)
from emulator.telephony.forwarding import ForwardingRules
from profiles.catalogue import Catalogue
from profiles.model import LineName
from profiles.numbering import NumberingPlan
from profiles.rating import Rater
from profiles.records import PARIS, CallRecord

OFFICE = "+33145000000"
MOBILE = "+33612345678"
MONDAY = dt.datetime(2026, 10, 5, 9, 0, tzinfo=PARIS)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="module")
def plan(catalogue: Catalogue) -> NumberingPlan:
    return catalogue.numbering_plan()


@pytest.fixture
def line(plan: NumberingPlan) -> ClassicLine:
    return ClassicLine("01 45 00 00 00", account="acme", name="Acme SARL", plan=plan)


# -- the codes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialled", "code"),
    [
        (
            "*21*0612345678#",
            ServiceCode(Service.TRANSFER_UNCONDITIONAL, Action.ACTIVATE, "0612345678"),
        ),
        ("#21#", ServiceCode(Service.TRANSFER_UNCONDITIONAL, Action.DEACTIVATE)),
        ("*#21#", ServiceCode(Service.TRANSFER_UNCONDITIONAL, Action.QUERY)),
        ("*67*0298000000#", ServiceCode(Service.TRANSFER_BUSY, Action.ACTIVATE, "0298000000")),
        ("#67#", ServiceCode(Service.TRANSFER_BUSY, Action.DEACTIVATE)),
        ("*#67#", ServiceCode(Service.TRANSFER_BUSY, Action.QUERY)),
        ("*61*+33612345678#", ServiceCode(Service.TRANSFER_NO_ANSWER, Action.ACTIVATE, MOBILE)),
        ("#61#", ServiceCode(Service.TRANSFER_NO_ANSWER, Action.DEACTIVATE)),
        ("*#61#", ServiceCode(Service.TRANSFER_NO_ANSWER, Action.QUERY)),
        ("*43#", ServiceCode(Service.CALL_WAITING, Action.ACTIVATE)),
        ("#43#", ServiceCode(Service.CALL_WAITING, Action.DEACTIVATE)),
        ("*#43#", ServiceCode(Service.CALL_WAITING, Action.QUERY)),
        (
            " *21*0612345678# ",
            ServiceCode(Service.TRANSFER_UNCONDITIONAL, Action.ACTIVATE, "0612345678"),
        ),
    ],
)
def test_each_service_code_is_read(dialled: str, code: ServiceCode) -> None:
    assert parse_service_code(dialled) == code


@pytest.mark.parametrize("dialled", ["0612345678", "+33612345678", "15", "3901", ""])
def test_an_ordinary_number_is_not_a_service_code(dialled: str) -> None:
    assert parse_service_code(dialled) is None


KNOWN = (
    "known codes: *21 (call transfer), *67 (call transfer on busy), *61 (call transfer on no"
    " answer), *43 (call waiting)"
)


@pytest.mark.parametrize(
    ("dialled", "message"),
    [
        ("*21*#", "'*21*#' has no number: dial *21*number#"),
        ("*21#", "'*21#' has no number: dial *21*number#"),
        ("*67#", "'*67#' has no number: dial *67*number#"),
        ("*21*0612345678", "'*21*0612345678' does not end with '#', as every service code does"),
        ("*99#", f"'*99#': *99 is not a service code; {KNOWN}"),
        ("#31#0612345678", "'#31#0612345678' does not end with '#'"),
        ("**21#", f"'**21#' has no service code after '*'; {KNOWN}"),
        ("*#", f"'*#' has no service code after '*#'; {KNOWN}"),
        ("*43*0612345678#", "'*43*0612345678#': call waiting takes no number: dial *43#"),
        ("#21*0612345678#", "'#21*0612345678#': a deactivation takes no number: dial #21#"),
        ("*#61*0612345678#", "'*#61*0612345678#': a query takes no number: dial *#61#"),
        ("*21*06 12 34#", "'*21*06 12 34#': the number '06 12 34' may hold digits only"),
        ("*21*06*12#", "'*21*06*12#': the number '06*12' may hold digits only"),
    ],
)
def test_a_malformed_code_says_what_is_wrong(dialled: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_service_code(dialled)


# -- call transfer and its fees (footnote 3, annex) ------------------------------------------


def test_activating_the_transfer_costs_009_eur_and_deactivating_it_is_free(
    line: ClassicLine, catalogue: Catalogue
) -> None:
    on = line.dial_code("*21*0612345678#", MONDAY)
    off = line.dial_code("#21#", MONDAY + dt.timedelta(hours=2))
    assert on.accepted
    assert on.announcement == "Call transfer is now on: all your calls go to 0612345678."
    assert on.records == (
        CallRecord(
            start=MONDAY,
            line=LineName.CLASSIC,
            caller=OFFICE,
            callee=MOBILE,
            duration_s=0,
            account="acme",
            kind="call-transfer-activation",
        ),
    )
    assert off.accepted
    assert off.announcement == "Call transfer is now off."
    (deactivation,) = off.records
    assert (deactivation.kind, deactivation.callee, deactivation.duration_s) == (
        "call-transfer-deactivation",
        MOBILE,
        0,
    )
    rater = Rater(catalogue, "optimale-pro-initial")
    assert rater.rate(on.records[0]).cost == Decimal("0.09")
    assert rater.rate(deactivation).cost == 0
    (invoice,) = rater.invoices()
    assert (invoice.account, invoice.fees, invoice.calls) == ("acme", Decimal("0.09"), Decimal(0))


def test_the_fee_kinds_are_those_of_the_price_annex(catalogue: Catalogue) -> None:
    assert catalogue.annex.fees[TRANSFER_ACTIVATION].eur == Decimal("0.09")
    assert catalogue.annex.fees[TRANSFER_DEACTIVATION].eur == 0


def test_the_transfer_sets_the_line_rule_and_the_query_reads_it(line: ClassicLine) -> None:
    assert line.dial_code("*#21#", MONDAY).announcement == "Call transfer is off."
    line.dial_code("*21*0612345678#", MONDAY)
    assert line.transfer == ForwardingRules(unconditional=MOBILE, ring_timeout_s=20)
    query = line.dial_code("*#21#", MONDAY)
    assert query.accepted
    assert query.announcement == f"Call transfer is on: all your calls go to {MOBILE}."
    assert query.records == ()


def test_transfer_on_busy_and_on_no_answer_are_separate_and_each_charged(
    line: ClassicLine, catalogue: Catalogue
) -> None:
    busy = line.dial_code("*67*0298000000#", MONDAY)
    no_answer = line.dial_code("*61*0612345678#", MONDAY + dt.timedelta(minutes=1))
    assert busy.announcement == (
        "Call transfer on busy is now on: your calls while you are on the phone go to 0298000000."
    )
    assert no_answer.announcement == (
        "Call transfer on no answer is now on: the calls you do not answer go to 0612345678."
    )
    assert line.transfer == ForwardingRules(busy="+33298000000", no_answer=MOBILE)
    rater = Rater(catalogue, "optimale-pro-equilibre")
    fees = [rater.rate(record).cost for record in busy.records + no_answer.records]
    assert fees == [Decimal("0.09"), Decimal("0.09")]
    line.dial_code("#67#", MONDAY + dt.timedelta(minutes=2))
    assert line.transfer == ForwardingRules(no_answer=MOBILE)


def test_each_activation_is_charged_even_to_the_same_number(line: ClassicLine) -> None:
    first = line.dial_code("*21*0612345678#", MONDAY)
    again = line.dial_code("*21*0612345678#", MONDAY + dt.timedelta(minutes=1))
    elsewhere = line.dial_code("*21*0298000000#", MONDAY + dt.timedelta(minutes=2))
    assert [len(outcome.records) for outcome in (first, again, elsewhere)] == [1, 1, 1]
    assert line.transfer.unconditional == "+33298000000"


def test_deactivating_a_transfer_that_is_off_leaves_no_record(line: ClassicLine) -> None:
    outcome = line.dial_code("#61#", MONDAY)
    assert outcome.accepted
    assert outcome.announcement == "Call transfer on no answer is off; it was not on."
    assert outcome.records == ()


@pytest.mark.parametrize(
    ("target", "e164"),
    [
        ("0970123456", "+33970123456"),  # an IP number
        ("0590123456", "+590590123456"),  # Guadeloupe
        ("00442012345678", "+442012345678"),  # abroad: the re-routed part is charged as a call
    ],
)
def test_calls_can_be_transferred_to_ip_overseas_and_foreign_numbers(
    line: ClassicLine, target: str, e164: str
) -> None:
    outcome = line.dial_code(f"*21*{target}#", MONDAY)
    assert outcome.accepted
    assert outcome.records[0].callee == e164


@pytest.mark.parametrize(
    ("dialled", "announcement"),
    [
        (
            "*21*0899123456#",
            "Call transfer refused: 0899123456 is a special-rate number; calls are transferred"
            " to fixed, IP or mobile numbers only.",
        ),
        (
            "*67*0800123456#",
            "Call transfer on busy refused: 0800123456 is a special-rate number;",
        ),
        (
            "*21*118712#",
            "Call transfer refused: 118712 is a special-rate number;",
        ),
        (
            "*61*3901#",
            "Call transfer on no answer refused: 3901 is a short number;",
        ),
        (
            "*21*15#",
            "Call transfer refused: 15 is an emergency number;",
        ),
        (
            "*21*112#",
            "Call transfer refused: 112 is an emergency number;",
        ),
        (
            "*21*0145000000#",
            "Call transfer refused: 0145000000 is this line's own number.",
        ),
        (
            "*21*+33145000000#",
            "Call transfer refused: +33145000000 is this line's own number.",
        ),
        (
            "*21*0612#",
            "Call transfer refused: '0612': a French national number has 10 digits, not 4.",
        ),
    ],
)
def test_refused_transfers_say_why_and_cost_nothing(
    line: ClassicLine, dialled: str, announcement: str
) -> None:
    outcome = line.dial_code(dialled, MONDAY)
    assert not outcome.accepted
    assert outcome.announcement.startswith(announcement)
    assert outcome.records == ()
    assert line.transfer == ForwardingRules()


def test_a_malformed_code_is_refused_with_its_reason(line: ClassicLine) -> None:
    outcome = line.dial_code("*21*#", MONDAY)
    assert not outcome.accepted
    assert outcome.announcement == (
        "Service code not understood: '*21*#' has no number: dial *21*number#."
    )
    assert outcome.records == ()


def test_an_ordinary_number_is_a_call_not_a_code(line: ClassicLine) -> None:
    with pytest.raises(ValueError, match=r"^'0612345678' is not a service code: it is dialled"):
        line.dial_code("0612345678", MONDAY)


def test_a_code_needs_a_time_with_its_zone(line: ClassicLine) -> None:
    with pytest.raises(ValueError, match=r"the time a code is dialled .* must carry a time zone"):
        line.dial_code("*#21#", dt.datetime(2026, 10, 5, 9, 0))


def test_a_line_that_is_down_gives_no_dial_tone(line: ClassicLine) -> None:
    line.fail(MONDAY)
    outcome = line.dial_code("*21*0612345678#", MONDAY + dt.timedelta(minutes=5))
    assert not outcome.accepted
    assert outcome.announcement == "No dial tone: the line is out of order."
    assert outcome.records == ()


# -- call waiting ----------------------------------------------------------------------------


def test_call_waiting_is_on_by_default_and_turned_off_and_on_for_free(line: ClassicLine) -> None:
    assert line.call_waiting
    off = line.dial_code("#43#", MONDAY)
    assert (off.accepted, off.announcement, off.records) == (True, "Call waiting is now off.", ())
    assert not line.call_waiting
    assert line.dial_code("*#43#", MONDAY).announcement == "Call waiting is off."
    on = line.dial_code("*43#", MONDAY)
    assert (on.announcement, on.records) == ("Call waiting is now on.", ())
    assert line.call_waiting


# -- the line, its faults and continuity (footnote 15) ---------------------------------------


def test_a_line_keeps_its_number_in_e164_and_its_services(line: ClassicLine) -> None:
    assert (line.number, line.account, line.name) == (OFFICE, "acme", "Acme SARL")
    assert line.up
    assert line.voicemail
    assert line.call_waiting
    assert line.continuity is None
    assert line.transfer == ForwardingRules(ring_timeout_s=20)


def test_the_no_answer_timer_is_the_voicemail_one(plan: NumberingPlan) -> None:
    line = ClassicLine(OFFICE, plan=plan, voicemail=False, voicemail_after_s=30, call_waiting=False)
    assert line.transfer.ring_timeout_s == 30
    assert not line.voicemail
    assert not line.call_waiting


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("0612345678", "classic line number '0612345678' is a mobile number; a classic line has"),
        ("0970123456", "classic line number '0970123456' is an IP (09) number;"),
        ("0590123456", "classic line number '0590123456' is a fixed number of GP;"),
        ("01 45", "classic line number: '01 45': a French national number has 10 digits"),
    ],
)
def test_a_classic_line_has_a_metropolitan_fixed_number(
    plan: NumberingPlan, number: str, message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        ClassicLine(number, plan=plan)


def test_the_voicemail_delay_must_be_positive(plan: NumberingPlan) -> None:
    with pytest.raises(ValueError, match="voicemail_after_s must be a positive number"):
        ClassicLine(OFFICE, plan=plan, voicemail_after_s=0)


def test_a_line_goes_down_and_comes_back(line: ClassicLine) -> None:
    line.fail(MONDAY)
    line.fail(MONDAY + dt.timedelta(hours=1))  # still down since the first fault
    assert (line.up, line.down_since) == (False, MONDAY)
    back = MONDAY + dt.timedelta(hours=6)
    line.restore(back)
    assert (line.up, line.down_since) == (True, None)
    assert line.outages == ((MONDAY, back),)
    line.restore(back + dt.timedelta(hours=1))  # already up: nothing changes
    assert line.outages == ((MONDAY, back),)


def test_a_line_cannot_come_back_before_it_failed(line: ClassicLine) -> None:
    line.fail(MONDAY)
    with pytest.raises(ValueError, match="cannot be restored at 2026-10-05T08:00:00"):
        line.restore(MONDAY - dt.timedelta(hours=1))


def test_faults_need_times_with_their_zone(line: ClassicLine) -> None:
    with pytest.raises(ValueError, match=r"the time the line fails .* must carry a time zone"):
        line.fail(dt.datetime(2026, 10, 5, 9, 0))


@pytest.mark.parametrize(
    ("number", "e164"),
    [("0612345678", MOBILE), ("02 98 00 00 00", "+33298000000"), ("+33745000000", "+33745000000")],
)
def test_continuity_goes_to_a_metropolitan_fixed_or_mobile_number(
    line: ClassicLine, number: str, e164: str
) -> None:
    line.set_continuity(number)
    assert line.continuity == e164
    line.set_continuity(None)
    assert line.continuity is None


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("0692123456", "continuity number '0692123456' is a mobile number of RE; calls are"),
        ("0970123456", "continuity number '0970123456' is an IP (09) number;"),
        ("0800123456", "continuity number '0800123456' is a special-rate number;"),
        ("+442012345678", "continuity number '+442012345678' is a fixed number of GB;"),
        ("3901", "continuity number '3901' is a short number;"),
        ("0145000000", "continuity number '0145000000' is this line's own number"),
        ("06", "continuity number: '06': a French national number has 10 digits"),
    ],
)
def test_continuity_refuses_other_numbers(line: ClassicLine, number: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        line.set_continuity(number)
    assert line.continuity is None


def test_continuity_given_at_creation_is_checked(plan: NumberingPlan) -> None:
    assert ClassicLine(OFFICE, plan=plan, continuity="0612345678").continuity == MOBILE
    with pytest.raises(ValueError, match="continuity number '0899123456' is a special-rate"):
        ClassicLine(OFFICE, plan=plan, continuity="0899123456")


# -- name display (footnote 2) ---------------------------------------------------------------


def test_name_display_shows_the_directory_name_and_number(line: ClassicLine) -> None:
    directory = {MOBILE: "Jeanne Martin"}
    assert line.caller_display(MOBILE, directory) == f"Jeanne Martin <{MOBILE}>"
    assert line.caller_display("0612345678", directory) == "Jeanne Martin <0612345678>"


@pytest.mark.parametrize("caller", ["+33298000000", "anonymous", ""])
def test_name_display_shows_only_the_number_of_unknown_or_withheld_callers(
    line: ClassicLine, caller: str
) -> None:
    assert line.caller_display(caller, {MOBILE: "Jeanne Martin"}) == caller


# -- the exchange ----------------------------------------------------------------------------


def test_the_exchange_finds_its_lines_however_the_number_is_written(
    plan: NumberingPlan, line: ClassicLine
) -> None:
    exchange = Exchange(plan, directory={"06 12 34 56 78": "Jeanne Martin", "+33145000000": "Acme"})
    other = ClassicLine("0298000000", plan=plan)
    exchange.add_line(line)
    exchange.add_line(other)
    assert len(exchange) == 2
    assert list(exchange) == [line, other]
    assert exchange.line(OFFICE) is line
    assert exchange.line("01 45 00 00 00") is line
    assert exchange.line("+33298000000") is other
    assert exchange.line(MOBILE) is None
    assert exchange.line("not a number") is None
    assert exchange.directory == {MOBILE: "Jeanne Martin", OFFICE: "Acme"}
    assert line.caller_display(MOBILE, exchange.directory) == f"Jeanne Martin <{MOBILE}>"


def test_the_exchange_refuses_a_second_line_with_the_same_number(
    plan: NumberingPlan, line: ClassicLine
) -> None:
    exchange = Exchange(plan)
    exchange.add_line(line)
    with pytest.raises(ValueError, match=r"^the exchange already has a classic line \+33145000000"):
        exchange.add_line(ClassicLine("+33145000000", plan=plan))
    assert exchange.directory == {}
