"""Calls through the operator core, over real SIP on loopback, in simulated time.

Boxes come from the `livebox_fleet` fixture with telephony: each box's VoIP line is a SIP
user agent that registers with what its tree says, and the analog phone on its port is a
virtual phone; external numbers are virtual phones on the core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emulator.fleet import Fleet, ServedBox
from emulator.sip.pcap import PcapTap
from emulator.telephony.calls import Call, CallState
from emulator.telephony.core import OperatorCore
from emulator.telephony.phone import BUSY, NO_ANSWER, Behaviour, PhoneState, VirtualPhone
from emulator.voip import LINE, PROFILE
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.hooks import RatingHooks
from profiles.model import LineName
from profiles.rating import Rater
from profiles.records import CallRecord, Disposition, ForwardReason

MOBILE = "+33612345678"
PARIS = "+33145000000"
NEW_YORK = "+12125550123"
FEATURES = f"{LINE}CallingFeatures."


async def settle(awaitable: Awaitable[Any]) -> None:
    """Wait for an event of the lab; the bound only turns a hang into a failure."""
    await asyncio.wait_for(awaitable, timeout=10)


def provision_voip(served: ServedBox, password: str, **features: str) -> None:
    """Write the VoIP line as a technician would: registrar, identity, credentials."""
    core, numbers = served.core, served.numbers
    assert core is not None
    assert numbers is not None
    session = served.box.config.session("admin")
    session.set(
        f"{PROFILE}SIP.",
        [
            ("RegistrarServer", core.host),
            ("RegistrarServerPort", str(core.port)),
            ("UserAgentDomain", core.domain),
        ],
    )
    session.set(LINE, [("Enable", "Enabled"), ("DirectoryNumber", numbers.voip)])
    session.set(
        f"{LINE}SIP.",
        [
            ("URI", f"sip:{numbers.voip}@{core.domain}"),
            ("AuthUserName", numbers.sip_user),
            ("AuthPassword", password),
        ],
    )
    if features:
        session.set(FEATURES, list(features.items()))
    session.commit()


@pytest.fixture
async def fleet(livebox_fleet: Any) -> Fleet:
    fleet: Fleet = await livebox_fleet(2)
    for served in fleet.served:
        provision_voip(served, fleet.sip_password)
    for served in fleet.served:
        assert served.voip is not None
        await settle(served.voip.wait_for("Up"))
    return fleet


@pytest.fixture
def core(fleet: Fleet) -> OperatorCore:
    assert fleet.core is not None
    return fleet.core


@pytest.fixture
def records(core: OperatorCore) -> list[CallRecord]:
    seen: list[CallRecord] = []
    core.record_sinks.append(seen.append)
    return seen


def box_phone(served: ServedBox, behaviour: Behaviour | None = None) -> VirtualPhone:
    assert served.voip is not None
    if behaviour is not None:
        served.voip.phone.behaviour = behaviour
    return served.voip.phone


def voip_number(served: ServedBox) -> str:
    assert served.numbers is not None
    return served.numbers.voip


async def ring(clock: SimulatedClock, phone: VirtualPhone, seconds: float) -> None:
    """Wait until `phone` rings, then let it ring `seconds` of simulated time."""
    await settle(phone.wait_for(PhoneState.RINGING))
    await clock.advance(seconds)


async def talk(clock: SimulatedClock, caller: VirtualPhone, call: Any, seconds: float) -> Call:
    """Let a connected call last `seconds` of simulated time, then hang up the caller."""
    await settle(caller.wait_for(PhoneState.IN_CALL))
    await clock.advance(seconds)
    caller.hang_up()
    await settle(call.wait_ended())
    return call  # type: ignore[no-any-return]


# -- registration ------------------------------------------------------------------------


async def test_the_line_is_up_in_the_tree_and_in_list_trunks_once_registered(
    fleet: Fleet, core: OperatorCore
) -> None:
    served = fleet.served[0]
    served.box.refresh()
    assert served.box.config.value(f"{LINE}Status") == "Up"
    assert core.registrar.registered(voip_number(served))


async def test_a_wrong_password_leaves_the_line_down_with_the_reason(livebox_fleet: Any) -> None:
    fleet: Fleet = await livebox_fleet(1)
    served = fleet.served[0]
    assert served.voip is not None
    provision_voip(served, "not-the-password")
    await settle(served.voip.wait_for("Error"))
    served.box.refresh()
    assert served.box.config.value(f"{LINE}Status") == "Error"
    info = served.box.config.value(f"{LINE}X_LIVEBOX-LAB_StatusInfo")
    assert "403 Forbidden" in info
    assert "password" in info
    assert fleet.core is not None
    assert not fleet.core.registrar.registered(voip_number(served))


async def test_correcting_the_password_brings_the_line_up(
    livebox_fleet: Any, livebox_clock: SimulatedClock
) -> None:
    fleet: Fleet = await livebox_fleet(1)
    served = fleet.served[0]
    assert served.voip is not None
    provision_voip(served, "not-the-password")
    await settle(served.voip.wait_for("Error"))
    provision_voip(served, fleet.sip_password)
    await settle(served.voip.wait_for("Up"))


async def test_a_registrar_that_does_not_answer_leaves_the_line_down_and_retried(
    livebox_fleet: Any, livebox_clock: SimulatedClock
) -> None:
    fleet: Fleet = await livebox_fleet(1)
    served = fleet.served[0]
    assert served.voip is not None
    assert fleet.core is not None
    await fleet.core.close()  # the registrar is unreachable
    provision_voip(served, fleet.sip_password)
    await settle(served.voip.wait_for("Registering"))
    await settle(served.voip.ready())  # the REGISTER is out: Timer F runs from now
    await livebox_clock.advance(64 * 0.5 + 1)  # Timer F
    await settle(served.voip.wait_for("Error"))
    assert "does not answer" in served.voip.info


async def test_the_registration_is_refreshed_before_it_expires(
    fleet: Fleet, core: OperatorCore, livebox_clock: SimulatedClock
) -> None:
    number = voip_number(fleet.served[0])
    await livebox_clock.advance(3 * 3600)
    await asyncio.sleep(0)
    assert core.registrar.registered(number)


# -- calls to and from the box's VoIP line ------------------------------------------------


async def test_a_mobile_calls_the_box_and_its_phone_answers(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    phone = box_phone(served, Behaviour(answer_after_s=4))
    mobile = core.add_phone(MOBILE, NO_ANSWER)
    call = mobile.dial(voip_number(served))
    await ring(livebox_clock, phone, 4)
    assert phone.shown == [MOBILE]
    call = await talk(livebox_clock, mobile, call, 65)
    assert call.answered_by == voip_number(served)
    assert call.duration_s == 65
    assert phone.state is PhoneState.IDLE
    assert records == []  # an incoming call costs the box's owner nothing


async def test_the_box_calls_a_mobile_and_the_leg_is_charged_to_its_voip_line(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    mobile = core.add_phone(MOBILE, Behaviour(answer_after_s=3))
    phone = box_phone(served)
    call = phone.dial("06 12 34 56 78")
    await ring(livebox_clock, mobile, 3)
    await settle(mobile.wait_for(PhoneState.IN_CALL))
    await livebox_clock.advance(125)
    phone.hang_up()
    await settle(mobile.wait_for(PhoneState.IDLE))
    assert core.log[-1].duration_s == 125
    [record] = records
    assert record.line is LineName.VOIP
    assert record.account == served.name
    assert (record.caller, record.callee) == (voip_number(served), MOBILE)
    assert record.duration_s == 125
    assert record.disposition is Disposition.ANSWERED
    assert call is not None


async def test_one_box_calls_the_other(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    first, second = fleet.served
    box_phone(second, Behaviour(answer_after_s=1))
    phone = box_phone(first)
    phone.dial(voip_number(second))
    await ring(livebox_clock, box_phone(second), 1)
    await settle(box_phone(second).wait_for(PhoneState.IN_CALL))
    await settle(phone.wait_for(PhoneState.IN_CALL))
    await livebox_clock.advance(30)
    box_phone(second).hang_up()
    await settle(phone.wait_for(PhoneState.IDLE))
    [record] = records
    assert (record.caller, record.callee, record.duration_s) == (
        voip_number(first),
        voip_number(second),
        30,
    )


async def test_a_call_to_a_number_nobody_has_fails_with_404(
    fleet: Fleet, core: OperatorCore
) -> None:
    mobile = core.add_phone(MOBILE)
    call = mobile.dial("+33611111111")
    await settle(call.wait_ended())  # type: ignore[attr-defined]
    assert call.status == 404  # type: ignore[attr-defined]
    assert mobile.state is PhoneState.IDLE


# -- forwarding on the VoIP line ----------------------------------------------------------


def set_features(served: ServedBox, **features: str) -> None:
    session = served.box.config.session("admin")
    session.set(FEATURES, list(features.items()))
    session.commit()


async def test_unconditional_forwarding_sends_the_call_on_and_charges_the_forwarded_leg(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    set_features(served, CallForwardUnconditionalEnable="1", CallForwardUnconditionalNumber=MOBILE)
    mobile = core.add_phone(MOBILE, Behaviour(answer_after_s=2))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(voip_number(served))
    await ring(livebox_clock, mobile, 2)
    await talk(livebox_clock, paris, call, 60)
    assert box_phone(served).shown == []  # the box's phone never rang
    assert call.answered_by == MOBILE
    [leg] = records
    assert leg.line is LineName.VOIP
    assert leg.account == served.name
    assert (leg.caller, leg.callee) == (PARIS, MOBILE)
    assert leg.forwarded_from == voip_number(served)
    assert leg.forward_reason is ForwardReason.UNCONDITIONAL
    assert leg.duration_s == 60
    assert mobile.state is PhoneState.IDLE


async def test_forwarding_on_busy_when_the_box_phone_refuses(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    set_features(served, CallForwardOnBusyEnable="1", CallForwardOnBusyNumber=NEW_YORK)
    box_phone(served, BUSY)
    new_york = core.add_phone(NEW_YORK, Behaviour(answer_after_s=1))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(voip_number(served))
    await ring(livebox_clock, new_york, 1)
    await talk(livebox_clock, paris, call, 90)
    assert call.answered_by == NEW_YORK
    [leg] = records
    assert leg.forward_reason is ForwardReason.BUSY
    assert leg.callee == NEW_YORK


async def test_without_forwarding_a_busy_line_gives_busy(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord]
) -> None:
    served = fleet.served[0]
    box_phone(served, BUSY)
    paris = core.add_phone(PARIS)
    call = paris.dial(voip_number(served))
    await settle(call.wait_ended())  # type: ignore[attr-defined]
    assert call.status == 486  # type: ignore[attr-defined]
    assert call.disposition is Disposition.BUSY  # type: ignore[attr-defined]


async def test_forwarding_on_no_answer_after_the_ring_timeout_with_history_info(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    first, second = fleet.served
    set_features(
        first,
        CallForwardOnNoAnswerEnable="1",
        CallForwardOnNoAnswerNumber=voip_number(second),
        CallForwardOnNoAnswerRingTimeout="15",
    )
    box_phone(first, NO_ANSWER)
    box_phone(second, Behaviour(answer_after_s=2))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(voip_number(first))
    await settle(box_phone(first).wait_for(PhoneState.RINGING))
    await livebox_clock.advance(14)
    assert box_phone(second).state is PhoneState.IDLE
    await livebox_clock.advance(1)
    await settle(box_phone(first).wait_for(PhoneState.IDLE))  # cancelled there
    await ring(livebox_clock, box_phone(second), 2)
    await talk(livebox_clock, paris, call, 40)
    assert call.answered_by == voip_number(second)
    assert second.voip is not None
    assert second.voip.last_invite is not None
    history = second.voip.last_invite.headers.get_all("History-Info")
    assert any("cause=408" in entry for entry in history)
    diversion = second.voip.last_invite.headers.get_all("Diversion")
    assert any("reason=no-answer" in entry and voip_number(first) in entry for entry in diversion)
    [leg] = records
    assert leg.forward_reason is ForwardReason.NO_ANSWER
    assert leg.duration_s == 40


async def test_a_forwarding_loop_is_refused(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord]
) -> None:
    first, second = fleet.served
    set_features(
        first,
        CallForwardUnconditionalEnable="1",
        CallForwardUnconditionalNumber=voip_number(second),
    )
    set_features(
        second,
        CallForwardUnconditionalEnable="1",
        CallForwardUnconditionalNumber=voip_number(first),
    )
    paris = core.add_phone(PARIS)
    call = paris.dial(voip_number(first))
    await settle(call.wait_ended())  # type: ignore[attr-defined]
    assert call.status == 482  # type: ignore[attr-defined]
    assert paris.state is PhoneState.IDLE


async def test_an_unregistered_line_without_forwarding_is_unavailable(
    fleet: Fleet, core: OperatorCore
) -> None:
    served = fleet.served[0]
    session = served.box.config.session("admin")
    unregistered = asyncio.Event()
    core.registrar.subscribe(lambda change: change.bindings or unregistered.set())
    session.set(LINE, [("Enable", "Disabled")])
    session.commit()
    await settle(unregistered.wait())  # the line sent REGISTER with Expires: 0
    assert served.voip is not None
    assert served.voip.status == "Disabled"
    paris = core.add_phone(PARIS)
    call = paris.dial(voip_number(served))
    await settle(call.wait_ended())  # type: ignore[attr-defined]
    assert call.status == 480  # type: ignore[attr-defined]


# -- the classic line: star codes and redirect-on-failure ----------------------------------


def classic(served: ServedBox) -> str:
    assert served.numbers is not None
    return served.numbers.classic


async def test_a_transfer_activated_by_star_code_is_charged_and_forwards_calls(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    home = core.phone(classic(served))
    code = home.dial("*21*0612345678#")
    await settle(code.wait_ended())  # type: ignore[attr-defined]
    [fee] = records
    assert fee.kind == "call-transfer-activation"
    assert fee.line is LineName.CLASSIC
    assert fee.account == served.name
    mobile = core.add_phone(MOBILE, Behaviour(answer_after_s=1))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(classic(served))
    await ring(livebox_clock, mobile, 1)
    await talk(livebox_clock, paris, call, 20)
    assert call.answered_by == MOBILE
    assert records[-1].forward_reason is ForwardReason.UNCONDITIONAL
    assert records[-1].line is LineName.CLASSIC
    off = home.dial("#21#")
    await settle(off.wait_ended())  # type: ignore[attr-defined]
    assert records[-1].kind == "call-transfer-deactivation"


async def test_a_failed_classic_line_redirects_to_its_continuity_number_until_restored(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    line = core.exchange.line(classic(served))
    assert line is not None
    line.set_continuity(MOBILE)
    mobile = core.add_phone(MOBILE, Behaviour(answer_after_s=1))
    paris = core.add_phone(PARIS, NO_ANSWER)
    line.fail(livebox_clock.now())
    call = paris.dial(classic(served))
    await ring(livebox_clock, mobile, 1)
    await talk(livebox_clock, paris, call, 300)
    assert call.answered_by == MOBILE
    [leg] = records
    assert leg.forward_reason is ForwardReason.CONTINUITY
    assert leg.line is LineName.CLASSIC
    assert leg.forwarded_from == classic(served)
    line.restore(livebox_clock.now())
    home = core.phone(classic(served))
    home.behaviour = Behaviour(answer_after_s=1)
    again = paris.dial(classic(served))
    await ring(livebox_clock, home, 1)
    await talk(livebox_clock, paris, again, 10)
    assert again.answered_by == classic(served)
    assert mobile.shown == [PARIS]


async def test_voicemail_answers_the_classic_line_after_the_ring_time(
    fleet: Fleet, core: OperatorCore, records: list[CallRecord], livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    core.phone(classic(served)).behaviour = NO_ANSWER
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(classic(served))
    await ring(livebox_clock, core.phone(classic(served)), 20)
    await talk(livebox_clock, paris, call, 15)
    assert call.answered_by == f"voicemail:{classic(served)}"


# -- prices, through the rating hooks -----------------------------------------------------


async def test_each_forwarded_leg_is_priced_by_the_rating_hooks(
    fleet: Fleet, core: OperatorCore, livebox_clock: SimulatedClock
) -> None:
    catalogue = Catalogue.load()
    served = fleet.served[0]
    hooks = RatingHooks(Rater(catalogue, catalogue.offer("optimale-pro-intense")))
    prices: list[Decimal] = []
    hooks.register(lambda record, priced: prices.append(priced.cost))
    core.record_sinks.append(hooks)
    set_features(
        served, CallForwardUnconditionalEnable="1", CallForwardUnconditionalNumber=NEW_YORK
    )
    new_york = core.add_phone(NEW_YORK, Behaviour(answer_after_s=1))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(voip_number(served))
    await ring(livebox_clock, new_york, 1)
    await talk(livebox_clock, paris, call, 120)
    assert len(prices) == 1
    assert call.state is CallState.ENDED


async def test_a_registrar_the_lab_cannot_reach_leaves_the_line_down(
    livebox_fleet: Any,
) -> None:
    fleet: Fleet = await livebox_fleet(1)
    served = fleet.served[0]
    assert served.voip is not None
    session = served.box.config.session("admin")
    session.set(f"{PROFILE}SIP.", [("RegistrarServer", "registrar.sip.example.net")])
    session.set(LINE, [("Enable", "Enabled"), ("DirectoryNumber", voip_number(served))])
    session.set(f"{LINE}SIP.", [("URI", "sip:x@example.net"), ("AuthUserName", "x")])
    session.set(f"{LINE}SIP.", [("AuthPassword", "y")])
    session.commit()
    assert served.voip.status == "Error"
    assert served.voip.info == (
        "cannot reach the registrar registrar.sip.example.net: unknown to the lab"
    )


async def test_the_core_domain_leads_to_the_core_whatever_the_port(
    fleet: Fleet, core: OperatorCore
) -> None:
    assert core.resolver(core.domain, 5060) == core.resolver(core.host, core.port)
    assert core.resolver("127.0.0.9", 5062) is not None
    assert core.resolver("sip.example.net", 5060) is None


async def test_the_sip_traffic_of_a_call_can_be_written_as_a_pcap(
    livebox_fleet: Any, livebox_clock: SimulatedClock, tmp_path: Path
) -> None:
    from scapy.all import UDP, rdpcap

    fleet: Fleet = await livebox_fleet(1, tap=PcapTap())
    served = fleet.served[0]
    provision_voip(served, fleet.sip_password)
    assert served.voip is not None
    await settle(served.voip.wait_for("Up"))
    assert fleet.core is not None
    paris = fleet.core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(voip_number(served))
    await ring(livebox_clock, box_phone(served), 0)
    box_phone(served).answer()
    await talk(livebox_clock, paris, call, 5)
    assert fleet.tap is not None
    path = tmp_path / "lab.pcap"
    written = fleet.tap.write(path)
    packets = rdpcap(str(path))
    assert len(packets) == written
    payloads = [bytes(packet[UDP].payload) for packet in packets if UDP in packet]
    firsts = [payload.split(b" ", 1)[0] for payload in payloads]
    for method in (b"REGISTER", b"INVITE", b"ACK", b"BYE"):
        assert method in firsts
    assert any(payload.startswith(b"SIP/2.0 200 OK") for payload in payloads)


async def test_the_box_keeps_its_calls_in_its_call_list_and_shows_the_call_state(
    fleet: Fleet, core: OperatorCore, livebox_clock: SimulatedClock
) -> None:
    served = fleet.served[0]
    phone = box_phone(served, Behaviour(answer_after_s=1))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(voip_number(served))
    await ring(livebox_clock, phone, 0)
    served.box.refresh()
    assert served.box.config.value(f"{LINE}CallState") == "Ringing"
    await livebox_clock.advance(1)
    await talk(livebox_clock, paris, call, 42)
    await settle(phone.wait_for(PhoneState.IDLE))
    served.box.refresh()
    assert served.box.config.value(f"{LINE}CallState") == "Idle"
    [entry] = served.box.call_list()
    assert entry["remoteNumber"] == PARIS
    assert entry["callType"] == "succeeded"
    assert entry["callOrigin"] == "remote"
    assert entry["duration"] == 42
