"""Forwarding rules read from the box, one call's chain of diversions, and its SIP headers."""

from __future__ import annotations

import re

import pytest

from emulator.sip.headers import parse_name_addr
from emulator.telephony.forwarding import (
    MAX_HOPS,
    Diversions,
    ForwardingError,
    ForwardingLoop,
    ForwardingRules,
    Hop,
    TooManyHops,
)
from profiles.records import ForwardReason

LINE1 = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
FEATURES = LINE1 + "CallingFeatures."
DOMAIN = "lab.invalid"

OFFICE = "+33145000000"
MOBILE = "+33612345678"
BRANCH = "+33298000000"
HOME = "+33970123456"
ASSISTANT = "+33700000001"


# -- rules of the box ------------------------------------------------------------------------


def test_rules_come_from_the_calling_features_in_e164() -> None:
    rules = ForwardingRules.from_calling_features(
        {
            "CallForwardUnconditionalEnable": "0",
            "CallForwardUnconditionalNumber": "0298000000",
            "CallForwardOnBusyEnable": "1",
            "CallForwardOnBusyNumber": "0612345678",
            "CallForwardOnNoAnswerEnable": "1",
            "CallForwardOnNoAnswerNumber": "+33970123456",
            "CallForwardOnNoAnswerRingTimeout": "30",
            "CallWaitingEnable": "1",
        }
    )
    assert rules == ForwardingRules(busy=MOBILE, no_answer=HOME, ring_timeout_s=30)


def test_rules_read_full_paths_of_the_tree() -> None:
    rules = ForwardingRules.from_calling_features(
        {
            FEATURES + "CallForwardUnconditionalEnable": "1",
            FEATURES + "CallForwardUnconditionalNumber": "06 12 34 56 78",
        }
    )
    assert rules.unconditional == MOBILE
    assert rules.ring_timeout_s == 20  # the data model's default


def test_an_overseas_number_dialled_nationally_gets_its_own_country_code() -> None:
    rules = ForwardingRules.from_calling_features(
        {"CallForwardUnconditionalEnable": "1", "CallForwardUnconditionalNumber": "0590123456"}
    )
    assert rules.unconditional == "+590590123456"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"CallForwardUnconditionalEnable": "1", "CallForwardUnconditionalNumber": ""},
        {"CallForwardUnconditionalEnable": "0", "CallForwardUnconditionalNumber": "0612345678"},
        {"CallForwardOnBusyEnable": "1"},
    ],
)
def test_a_disabled_rule_or_an_empty_number_is_off(values: dict[str, str]) -> None:
    assert ForwardingRules.from_calling_features(values) == ForwardingRules()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"CallForwardOnBusyEnable": "yes", "CallForwardOnBusyNumber": "0612345678"},
            "CallForwardOnBusyEnable 'yes' is not a boolean (1 or 0)",
        ),
        (
            {"CallForwardOnBusyEnable": "1", "CallForwardOnBusyNumber": "06123"},
            "CallForwardOnBusyNumber: '06123': a French national number has 10 digits, not 5",
        ),
        (
            {"CallForwardUnconditionalEnable": "1", "CallForwardUnconditionalNumber": "15"},
            "CallForwardUnconditionalNumber '15' is an emergency number; calls are forwarded"
            " to full numbers only",
        ),
        (
            {"CallForwardUnconditionalEnable": "1", "CallForwardUnconditionalNumber": "3901"},
            "CallForwardUnconditionalNumber '3901' is a short number",
        ),
        (
            {"CallForwardOnNoAnswerRingTimeout": "4"},
            "CallForwardOnNoAnswerRingTimeout '4' is not a whole number of seconds from 5 to 120",
        ),
        (
            {"CallForwardOnNoAnswerRingTimeout": "1e3"},
            "CallForwardOnNoAnswerRingTimeout '1e3' is not a whole number of seconds",
        ),
        (
            {
                LINE1 + "CallingFeatures.CallForwardOnBusyEnable": "1",
                "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line."
                "LINE2.CallingFeatures.CallForwardOnBusyEnable": "0",
            },
            "CallForwardOnBusyEnable is given twice with different values ('1', '0')",
        ),
    ],
)
def test_bad_calling_features_are_named(values: dict[str, str], message: str) -> None:
    with pytest.raises(ForwardingError, match="^" + re.escape(message)):
        ForwardingRules.from_calling_features(values)


def test_rules_give_the_target_of_each_reason() -> None:
    rules = ForwardingRules(unconditional=BRANCH, busy=MOBILE, no_answer=HOME)
    assert rules.target(ForwardReason.UNCONDITIONAL) == BRANCH
    assert rules.target(ForwardReason.BUSY) == MOBILE
    assert rules.target(ForwardReason.NO_ANSWER) == HOME
    # Redirect-on-failure is the classic line's continuity service, not a forwarding rule.
    assert rules.target(ForwardReason.CONTINUITY) is None


def test_rules_refuse_a_ring_timeout_that_is_not_positive() -> None:
    with pytest.raises(ForwardingError, match="ring_timeout_s must be a positive number"):
        ForwardingRules(no_answer=MOBILE, ring_timeout_s=0)


def test_rules_refuse_a_target_that_is_not_a_number() -> None:
    with pytest.raises(
        ForwardingError, match=re.escape("the busy forwarding target 'bob@example.com'")
    ):
        ForwardingRules(busy="bob@example.com")


# -- one call's chain ------------------------------------------------------------------------


def test_a_call_forwarded_twice_knows_who_forwarded_it_where_and_why() -> None:
    chain = Diversions(OFFICE)
    assert (chain.original, chain.current, chain.hops) == (OFFICE, OFFICE, ())
    first = chain.forward(MOBILE, ForwardReason.BUSY)
    chain.forward(HOME, ForwardReason.NO_ANSWER)
    assert first == Hop(OFFICE, MOBILE, ForwardReason.BUSY)
    assert chain.hops == (first, Hop(MOBILE, HOME, ForwardReason.NO_ANSWER))
    assert chain.current == HOME
    assert chain.chain() == f"{OFFICE} -> {MOBILE} -> {HOME}"


def test_forwarding_back_to_the_number_first_called_is_a_loop() -> None:
    chain = Diversions(OFFICE)
    chain.forward(MOBILE, ForwardReason.UNCONDITIONAL)
    with pytest.raises(ForwardingLoop) as caught:
        chain.forward(OFFICE, ForwardReason.NO_ANSWER)
    assert str(caught.value) == (
        f"forwarding {MOBILE} to {OFFICE} (no-answer) would loop: {OFFICE} -> {MOBILE} -> {OFFICE}"
    )
    assert chain.current == MOBILE
    assert len(chain.hops) == 1


def test_forwarding_to_a_number_met_on_the_way_is_a_loop() -> None:
    chain = Diversions(OFFICE)
    chain.forward(MOBILE, ForwardReason.UNCONDITIONAL)
    chain.forward(HOME, ForwardReason.BUSY)
    with pytest.raises(ForwardingLoop, match=re.escape(f"-> {HOME} -> {MOBILE}") + "$"):
        chain.forward(MOBILE, ForwardReason.UNCONDITIONAL)


def test_forwarding_a_number_to_itself_is_a_loop() -> None:
    with pytest.raises(ForwardingLoop, match="would loop"):
        Diversions(OFFICE).forward(OFFICE, ForwardReason.UNCONDITIONAL)


def test_a_loop_is_a_forwarding_error_and_a_value_error() -> None:
    assert issubclass(ForwardingLoop, ForwardingError)
    assert issubclass(TooManyHops, ForwardingError)
    assert issubclass(ForwardingError, ValueError)


def test_five_hops_are_allowed_and_the_sixth_is_refused() -> None:
    chain = Diversions("+33100000000")
    for hop in range(1, MAX_HOPS + 1):
        chain.forward(f"+3310000000{hop}", ForwardReason.UNCONDITIONAL)
    assert len(chain.hops) == MAX_HOPS == 5
    with pytest.raises(TooManyHops) as caught:
        chain.forward("+33100000009", ForwardReason.UNCONDITIONAL)
    assert str(caught.value) == (
        "forwarding +33100000005 to +33100000009 (unconditional) would make 6 hops, more"
        " than 5: +33100000000 -> +33100000001 -> +33100000002 -> +33100000003"
        " -> +33100000004 -> +33100000005"
    )
    assert chain.current == "+33100000005"


def test_the_hop_limit_can_be_lowered() -> None:
    chain = Diversions(OFFICE, max_hops=1)
    chain.forward(MOBILE, ForwardReason.BUSY)
    with pytest.raises(TooManyHops, match="more than 1"):
        chain.forward(HOME, ForwardReason.BUSY)


def test_a_negative_hop_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_hops must not be negative, not -1"):
        Diversions(OFFICE, max_hops=-1)


@pytest.mark.parametrize("number", ["", "bob@example.com", "+33 1 45", "<+33145000000>"])
def test_a_chain_is_made_of_phone_numbers(number: str) -> None:
    with pytest.raises(ForwardingError, match=re.escape(f"the called number {number!r} is not")):
        Diversions(number)
    with pytest.raises(ForwardingError, match=re.escape(f"the forwarding target {number!r} is")):
        Diversions(OFFICE).forward(number, ForwardReason.BUSY)


# -- History-Info and Diversion --------------------------------------------------------------


def _two_hops() -> Diversions:
    chain = Diversions(OFFICE)
    chain.forward(MOBILE, ForwardReason.BUSY)
    chain.forward(HOME, ForwardReason.NO_ANSWER)
    return chain


def test_history_info_nests_each_forwarding_with_its_cause() -> None:
    # As in RFC 7544 section 7: the cause is a parameter of the URI that was retargeted to
    # (inside '<>'), index and mp are parameters of the entry.
    assert _two_hops().history_info(DOMAIN) == [
        "<sip:+33145000000@lab.invalid;user=phone>;index=1",
        "<sip:+33612345678@lab.invalid;user=phone;cause=486>;index=1.1;mp=1",
        "<sip:+33970123456@lab.invalid;user=phone;cause=408>;index=1.1.1;mp=1.1",
    ]


def test_history_info_entries_read_as_the_rfc_says() -> None:
    entries = [parse_name_addr(value) for value in _two_hops().history_info(DOMAIN)]
    assert [entry.uri.user for entry in entries] == [OFFICE, MOBILE, HOME]
    assert [entry.uri.param("user") for entry in entries] == ["phone"] * 3
    assert [entry.uri.param("cause") for entry in entries] == [None, "486", "408"]
    assert [entry.param("index") for entry in entries] == ["1", "1.1", "1.1.1"]
    assert [entry.param("mp") for entry in entries] == [None, "1", "1.1"]


@pytest.mark.parametrize(
    ("reason", "cause", "diversion_reason"),
    [
        (ForwardReason.UNCONDITIONAL, "302", "unconditional"),
        (ForwardReason.BUSY, "486", "user-busy"),
        (ForwardReason.NO_ANSWER, "408", "no-answer"),
        (ForwardReason.CONTINUITY, "503", "unavailable"),
    ],
)
def test_each_reason_has_its_rfc_4458_cause_and_rfc_5806_reason(
    reason: ForwardReason, cause: str, diversion_reason: str
) -> None:
    chain = Diversions(OFFICE)
    chain.forward(MOBILE, reason)
    assert chain.history_info(DOMAIN)[1] == (
        f"<sip:{MOBILE}@{DOMAIN};user=phone;cause={cause}>;index=1.1;mp=1"
    )
    assert chain.diversion(DOMAIN) == [
        f"<sip:{OFFICE}@{DOMAIN};user=phone>;reason={diversion_reason};counter=1"
    ]


def test_diversion_names_the_forwarders_most_recent_first() -> None:
    assert _two_hops().diversion(DOMAIN) == [
        "<sip:+33612345678@lab.invalid;user=phone>;reason=no-answer;counter=1",
        "<sip:+33145000000@lab.invalid;user=phone>;reason=user-busy;counter=1",
    ]


def test_a_call_not_forwarded_has_one_history_entry_and_no_diversion() -> None:
    chain = Diversions(OFFICE)
    assert chain.history_info(DOMAIN) == [f"<sip:{OFFICE}@{DOMAIN};user=phone>;index=1"]
    assert chain.diversion(DOMAIN) == []


def test_a_call_coming_back_keeps_its_history_from_history_info() -> None:
    sent = _two_hops()
    # The request comes back for the number it was last forwarded to.
    back = Diversions.from_headers(HOME, sent.history_info("core.invalid"), [])
    assert back.hops == sent.hops
    assert (back.original, back.current) == (OFFICE, HOME)
    back.forward(BRANCH, ForwardReason.UNCONDITIONAL)
    assert back.chain() == f"{OFFICE} -> {MOBILE} -> {HOME} -> {BRANCH}"


def test_a_call_coming_back_keeps_its_history_from_diversion() -> None:
    sent = _two_hops()
    back = Diversions.from_headers(HOME, [], sent.diversion(DOMAIN))
    assert back.hops == sent.hops
    assert (back.original, back.current) == (OFFICE, HOME)


def test_history_info_is_preferred_to_diversion() -> None:
    sent = _two_hops()
    stale = ["<sip:+33298000000@lab.invalid>;reason=deflection;counter=3"]
    back = Diversions.from_headers(HOME, sent.history_info(DOMAIN), stale)
    assert back.hops == sent.hops


def test_history_info_of_another_network_is_read() -> None:
    # Shaped like RFC 7544's example: privacy headers in the URIs, tel: URIs, a display name,
    # entries folded into one comma-separated value.
    values = [
        f"<sip:{OFFICE}@ims.example.net;user=phone?Privacy=none>;index=1",
        f'"Mobile, A." <tel:{MOBILE};cause=302>;index=1.1;mp=1,'
        f" <sip:{HOME}@ims.example.net;user=phone;cause=486?Privacy=history>;index=1.1.1;mp=1.1",
    ]
    back = Diversions.from_headers(HOME, values, [])
    assert back.hops == (
        Hop(OFFICE, MOBILE, ForwardReason.UNCONDITIONAL),
        Hop(MOBILE, HOME, ForwardReason.BUSY),
    )


def test_numbers_written_nationally_in_headers_are_read_in_e164() -> None:
    values = [
        "<sip:0145000000@box.invalid;user=phone>;index=1",
        "<sip:0612345678@box.invalid;user=phone;cause=302>;index=1.1;mp=1",
    ]
    back = Diversions.from_headers(MOBILE, values, [])
    assert back.hops == (Hop(OFFICE, MOBILE, ForwardReason.UNCONDITIONAL),)
    diverted = Diversions.from_headers(
        MOBILE, [], ["<sip:0145000000@box.invalid>;reason=user-busy"]
    )
    assert diverted.hops == (Hop(OFFICE, MOBILE, ForwardReason.BUSY),)


def test_history_info_follows_the_branch_of_the_last_entry() -> None:
    # Like RFC 7131's voicemail flow: the call rang a contact of the office line (1.1, rc),
    # was not answered, and the proxy retargeted it from 1 to the mobile (1.2, cause 408).
    values = [
        f"<sip:{OFFICE}@lab.invalid;user=phone>;index=1",
        f"<sip:{OFFICE}@192.0.2.4>;index=1.1;rc=1",
        f"<sip:{MOBILE}@lab.invalid;user=phone;cause=408>;index=1.2;mp=1",
    ]
    back = Diversions.from_headers(MOBILE, values, [])
    assert back.hops == (Hop(OFFICE, MOBILE, ForwardReason.NO_ANSWER),)


def test_a_same_user_entry_without_cause_is_no_forwarding() -> None:
    values = [
        f"<sip:{OFFICE}@lab.invalid>;index=1",
        f"<sip:{OFFICE}@192.0.2.4>;index=1.1;rc=1",
        f"<sip:{MOBILE}@lab.invalid;cause=302>;index=1.1.1;mp=1.1",
    ]
    back = Diversions.from_headers(MOBILE, values, [])
    assert back.hops == (Hop(OFFICE, MOBILE, ForwardReason.UNCONDITIONAL),)


def test_diversion_of_another_network_is_read() -> None:
    values = [
        f'"Mobile" <sip:{MOBILE}@gw.example.net>;reason="no-answer";counter=1;privacy=off,'
        f" <sip:{OFFICE}@gw.example.net>;reason=out-of-service;screen=no",
    ]
    back = Diversions.from_headers(HOME, [], values)
    assert back.hops == (
        Hop(OFFICE, MOBILE, ForwardReason.CONTINUITY),
        Hop(MOBILE, HOME, ForwardReason.NO_ANSWER),
    )


def test_a_request_without_history_is_a_call_not_forwarded() -> None:
    chain = Diversions.from_headers(OFFICE, [], [], max_hops=2)
    assert (chain.original, chain.current, chain.hops, chain.max_hops) == (OFFICE, OFFICE, (), 2)


def test_a_history_that_loops_is_refused() -> None:
    values = [
        f"<sip:{OFFICE}@lab.invalid>;index=1",
        f"<sip:{MOBILE}@lab.invalid;cause=302>;index=1.1;mp=1",
        f"<sip:{OFFICE}@lab.invalid;cause=486>;index=1.1.1;mp=1.1",
    ]
    with pytest.raises(ForwardingLoop, match="would loop"):
        Diversions.from_headers(OFFICE, values, [])


def test_a_diversion_back_to_its_first_forwarder_is_a_loop() -> None:
    values = [
        f"<sip:{MOBILE}@lab.invalid>;reason=unconditional",
        f"<sip:{OFFICE}@lab.invalid>;reason=user-busy",
    ]
    with pytest.raises(ForwardingLoop, match=re.escape(f"{OFFICE} -> {MOBILE} -> {OFFICE}")):
        Diversions.from_headers(OFFICE, [], values)


def test_a_history_longer_than_the_hop_limit_is_refused() -> None:
    sent = _two_hops()
    with pytest.raises(TooManyHops, match="would make 2 hops, more than 1"):
        Diversions.from_headers(HOME, sent.history_info(DOMAIN), [], max_hops=1)


H1 = f"<sip:{OFFICE}@lab.invalid>;index=1"


@pytest.mark.parametrize(
    ("history_info", "diversion", "request_for", "message"),
    [
        (
            [H1, f"<sip:{MOBILE}@lab.invalid;cause=302>;mp=1"],
            [],
            MOBILE,
            re.escape(
                "History-Info value '<sip:+33612345678@lab.invalid;cause=302>;mp=1' has no valid"
                " index (1, 1.1, 1.2.1...)"
            ),
        ),
        (
            [H1, f"<sip:{MOBILE}@lab.invalid;cause=302>;index=1..1"],
            [],
            MOBILE,
            "History-Info value .* has no valid index",
        ),
        (
            [H1, f"<sip:{MOBILE}@lab.invalid;cause=302>;index=1"],
            [],
            MOBILE,
            "History-Info has two entries with index 1",
        ),
        (
            [H1, f"<sip:{MOBILE}@lab.invalid;cause=302>;index=1.1.1"],
            [],
            MOBILE,
            "History-Info entry index=1.1.1 has no entry index=1.1 above it",
        ),
        (
            [H1, f"<sip:{MOBILE}@lab.invalid;cause=404>;index=1.1"],
            [],
            MOBILE,
            "History-Info value .*: cause 404 is not a forwarding this exchange makes; known"
            " causes: 302 \\(unconditional\\), 486 \\(busy\\), 408 \\(no-answer\\),"
            " 503 \\(continuity\\)",
        ),
        (
            [H1, "<sip:lab.invalid;cause=302>;index=1.1"],
            [],
            MOBILE,
            "History-Info value '<sip:lab.invalid;cause=302>;index=1.1' names no number",
        ),
        (
            [H1, "<sip:+3361@lab.invalid;cause=302;index=1.1"],
            [],
            MOBILE,
            "History-Info value '<sip:\\+3361@lab.invalid;cause=302;index=1.1': .*'<' without '>'",
        ),
        (
            [H1, f"<sip:{MOBILE}@lab.invalid>;index=1.1"],
            [],
            MOBILE,
            "History-Info value .* goes from \\+33145000000 to \\+33612345678 without an"
            " RFC 4458 cause",
        ),
        (
            [H1],
            [],
            MOBILE,
            "the forwarding history ends at \\+33145000000, but the request is for \\+33612345678",
        ),
        (
            [H1, f"<sip:{MOBILE}@lab.invalid;cause=302>;index=1.1"],
            [],
            HOME,
            "the forwarding history ends at \\+33612345678, but the request is for \\+33970123456:"
            " \\+33145000000 -> \\+33612345678$",
        ),
        (
            [],
            [f"<sip:{OFFICE}@lab.invalid>;reason=deflection;counter=1"],
            MOBILE,
            "Diversion value .*: reason 'deflection' is not a forwarding this exchange makes;"
            " known reasons: unconditional, user-busy, no-answer, unavailable, out-of-service",
        ),
        (
            [],
            [f"<sip:{OFFICE}@lab.invalid>;counter=1"],
            MOBILE,
            "Diversion value .*: reason '\\(none\\)' is not a forwarding",
        ),
        (
            [],
            [f"<sip:{OFFICE}@lab.invalid>;reason=user-busy;counter=2"],
            MOBILE,
            "Diversion value .*: counter=2 stands for diversions whose numbers are not given",
        ),
        (
            [],
            ["sip:+33145000000@lab.invalid, <sip:@lab.invalid>;reason=user-busy"],
            MOBILE,
            "Diversion value '<sip:@lab.invalid>;reason=user-busy': .*malformed user part",
        ),
    ],
)
def test_malformed_headers_are_refused_with_what_is_wrong(
    history_info: list[str], diversion: list[str], request_for: str, message: str
) -> None:
    with pytest.raises(ForwardingError, match="^" + message):
        Diversions.from_headers(request_for, history_info, diversion)
