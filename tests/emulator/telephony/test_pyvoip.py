"""Real pyVoIP 1.6.8 phones register with the operator core and call through it on loopback.

The core runs on a simulated clock (its timers move only when a test advances it); the
phones run pyVoIP's own threads on real time, driven by the harness in `pyvoip_phone`.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pyVoIP imports audioop
    pytest.importorskip(
        "pyVoIP.VoIP", reason="pyVoIP (1.6.8, Python < 3.13) is needed to drive real SIP phones"
    )

from emulator.sip.headers import parse_via
from emulator.sip.peer import Peer
from emulator.telephony.calls import Call, CustomerLine
from emulator.telephony.calls import CallState as CoreCallState
from emulator.telephony.core import OperatorCore
from emulator.telephony.forwarding import ForwardingRules
from emulator.telephony.legs import SipOrigin
from emulator.telephony.phone import BUSY, NO_ANSWER, Behaviour, PhoneState
from emulator.telephony.registrar import Subscriber
from profiles.clock import SimulatedClock
from profiles.model import LineName
from profiles.records import CallRecord, Disposition, ForwardReason
from tests.emulator.telephony.pyvoip_phone import (
    WAIT_S,
    CallState,
    CoreInbox,
    PhoneStatus,
    PyVoipCall,
    PyVoipPhone,
    running,
)

pytestmark = [
    # pyVoIP warns when a call ends on 404 or 503, from its receive thread,
    pytest.mark.filterwarnings("ignore:The number:UserWarning"),
    # and when its RTP transmitter sends one last packet on the socket a hang-up closed.
    pytest.mark.filterwarnings("ignore:RTP Packet failed to send:RuntimeWarning"),
]

ALICE = "+33970000001"  # pyVoIP lines: the SIP user name is the number
BOB = "+33970000002"
CAROL = "+33970000003"  # a line that forwards, never registered
PASSWORD = "pyvoip-secret"
MOBILE = "+33612345678"
PARIS = "+33145000000"
NEW_YORK = "+12125550123"


async def settle(awaitable: Awaitable[Any]) -> None:
    """Wait for an event of the core; the bound only turns a hang into a failure."""
    await asyncio.wait_for(awaitable, WAIT_S)


def rules_of(forwarding: dict[str, ForwardingRules], number: str) -> Callable[[], ForwardingRules]:
    return lambda: forwarding.get(number, ForwardingRules())


@pytest.fixture
def forwarding() -> dict[str, ForwardingRules]:
    """The forwarding each line has set; read by the core when a call arrives."""
    return {}


@pytest.fixture
async def core(
    clock: SimulatedClock, forwarding: dict[str, ForwardingRules]
) -> AsyncIterator[OperatorCore]:
    core = await OperatorCore.start(clock=clock)
    for number in (ALICE, BOB):
        core.add_subscriber(
            Subscriber(number, number, PASSWORD), rules=rules_of(forwarding, number)
        )
    try:
        yield core
    finally:
        await core.close()


@pytest.fixture
def inbox(core: OperatorCore) -> CoreInbox:
    return CoreInbox(core)


@pytest.fixture
async def alice(core: OperatorCore) -> AsyncIterator[PyVoipPhone]:
    async with running(core, ALICE, PASSWORD) as phone:
        assert phone.status is PhoneStatus.REGISTERED
        yield phone


@pytest.fixture
async def bob(core: OperatorCore) -> AsyncIterator[PyVoipPhone]:
    async with running(core, BOB, PASSWORD) as phone:
        assert phone.status is PhoneStatus.REGISTERED
        yield phone


def placed(core: OperatorCore, call: PyVoipCall) -> Call:
    """The core's call for a call a pyVoIP phone placed (while the core holds its dialog)."""
    origin = core.dialogs[call.call_id]
    assert isinstance(origin, SipOrigin)
    assert origin.call is not None
    return origin.call


async def connected(inbox: CoreInbox, call: PyVoipCall) -> None:
    """The pyVoIP caller has the answer and the core its ACK (so that simulated time can run
    past Timer H without the core taking the caller for gone)."""
    await call.wait_for(CallState.ANSWERED)
    await inbox.wait_for("ACK", call.call_id)


# -- registration ------------------------------------------------------------------------


async def test_pyvoip_registers_with_an_md5_digest_without_qop_and_the_core_binds_its_port(
    core: OperatorCore, inbox: CoreInbox
) -> None:
    async with running(core, ALICE, PASSWORD) as phone:
        assert phone.status is PhoneStatus.REGISTERED
        [binding] = core.registrar.lookup(ALICE)
        assert binding.peer == Peer("127.0.0.1", phone.sip_port)
        assert (binding.contact.user, binding.contact.port) == (ALICE, phone.sip_port)
        assert binding.user_agent.startswith("pyVoIP")
        challenged, answered = inbox.of("REGISTER")
        assert challenged.headers.get("Authorization") is None
        credentials = answered.headers.get("Authorization") or ""
        assert credentials.startswith("Digest ")
        assert f'username="{ALICE}"' in credentials
        assert "algorithm=MD5" in credentials
        assert "qop=" not in credentials
    assert not core.registrar.registered(ALICE)  # stop() de-registers


async def test_a_wrong_password_leaves_the_line_unregistered_and_pyvoip_failed(
    core: OperatorCore, inbox: CoreInbox
) -> None:
    async with running(core, ALICE, "not-the-password") as phone:
        assert phone.status is PhoneStatus.FAILED
        assert not core.registrar.registered(ALICE)
        answered = [r for r in inbox.of("REGISTER") if r.headers.get("Authorization")]
        assert answered  # it did answer the challenge, with a response the core refused


# -- pyVoIP calls ------------------------------------------------------------------------


async def test_pyvoip_calls_a_mobile_that_answers_and_pyvoip_hangs_up(
    core: OperatorCore, clock: SimulatedClock, inbox: CoreInbox, alice: PyVoipPhone
) -> None:
    mobile = core.add_phone(MOBILE, Behaviour(answer_after_s=5))
    call = await alice.call("0612345678")
    await settle(mobile.wait_for(PhoneState.RINGING))
    assert call.state is CallState.DIALING  # pyVoIP shows no ringing state
    assert mobile.shown == [ALICE]
    ours = placed(core, call)
    await clock.advance(5)
    await connected(inbox, call)
    await settle(mobile.wait_for(PhoneState.IN_CALL))
    await clock.advance(42)
    await call.hangup()
    await settle(ours.wait_ended())
    assert (ours.caller, ours.dialled, ours.answered_by) == (ALICE, MOBILE, MOBILE)
    assert ours.status == 200
    assert ours.duration_s == 42
    assert mobile.state is PhoneState.IDLE


async def test_the_mobile_hangs_up_and_the_pyvoip_call_ends(
    core: OperatorCore, clock: SimulatedClock, inbox: CoreInbox, alice: PyVoipPhone
) -> None:
    mobile = core.add_phone(MOBILE)  # answers at once: the 200 follows the 100 Trying
    call = await alice.call(MOBILE)
    await connected(inbox, call)
    ours = placed(core, call)
    await clock.advance(17)
    mobile.hang_up()
    await call.wait_for(CallState.ENDED)
    await settle(ours.wait_ended())
    assert ours.answered_by == MOBILE
    assert ours.duration_s == 17
    assert alice.phone.calls == {}


async def test_calling_a_busy_mobile_ends_the_pyvoip_call_on_503_and_the_core_keeps_busy(
    core: OperatorCore, alice: PyVoipPhone
) -> None:
    core.add_phone(MOBILE, BUSY)
    call = await alice.call(MOBILE)
    await call.wait_for(CallState.ENDED)  # on 486 pyVoIP would dial for ever
    assert call.statuses == [503]
    ours = core.log[-1]
    assert (ours.caller, ours.status, ours.disposition) == (ALICE, 486, Disposition.BUSY)


async def test_calling_a_number_nobody_has_ends_the_pyvoip_call_on_404(
    core: OperatorCore, alice: PyVoipPhone
) -> None:
    call = await alice.call("+33611111111")
    await call.wait_for(CallState.ENDED)
    assert call.statuses == [404]
    assert core.log[-1].status == 404


async def test_a_star_code_dialled_from_pyvoip_is_no_number_and_ends_the_call_on_503(
    core: OperatorCore, inbox: CoreInbox, alice: PyVoipPhone
) -> None:
    call = await alice.call("*21*0612345678#")  # a classic line's code, not a SIP line's
    await call.wait_for(CallState.ENDED)  # on the 484 itself pyVoIP would dial for ever
    assert call.statuses == [503]
    [invite] = inbox.of("INVITE", call.call_id)
    assert invite.uri.user == "*21*0612345678#"


# -- pyVoIP is called ---------------------------------------------------------------------


async def test_pyvoip_answers_a_mobile_and_the_mobile_hangs_up(
    core: OperatorCore, clock: SimulatedClock, alice: PyVoipPhone
) -> None:
    mobile = core.add_phone(MOBILE, NO_ANSWER)
    call = mobile.dial(ALICE)
    assert isinstance(call, Call)
    incoming = await alice.next_incoming()
    assert incoming.state is CallState.RINGING
    assert call.state is CoreCallState.RINGING  # pyVoIP's 180 reached the core
    assert MOBILE in incoming.call.request.headers["From"]["raw"]
    await incoming.answer()
    await settle(mobile.wait_for(PhoneState.IN_CALL))
    await clock.advance(30)
    mobile.hang_up()
    await incoming.wait_for(CallState.ENDED)
    await settle(call.wait_ended())
    assert (call.answered_by, call.status, call.duration_s) == (ALICE, 200, 30)


async def test_pyvoip_answers_a_mobile_then_hangs_up(
    core: OperatorCore, clock: SimulatedClock, alice: PyVoipPhone
) -> None:
    mobile = core.add_phone(MOBILE, NO_ANSWER)
    call = mobile.dial(ALICE)
    assert isinstance(call, Call)
    incoming = await alice.next_incoming()
    await incoming.answer()
    await settle(mobile.wait_for(PhoneState.IN_CALL))
    await clock.advance(8)
    await incoming.hangup()  # a BYE that copies the core's own Vias
    await settle(call.wait_ended())
    assert (call.answered_by, call.duration_s) == (ALICE, 8)
    assert mobile.state is PhoneState.IDLE


async def test_one_pyvoip_phone_calls_another_which_answers_then_hangs_up(
    core: OperatorCore, inbox: CoreInbox, alice: PyVoipPhone, bob: PyVoipPhone
) -> None:
    outgoing = await alice.call(BOB)
    incoming = await bob.next_incoming()
    ours = placed(core, outgoing)
    await incoming.answer()
    await connected(inbox, outgoing)
    await incoming.hangup()  # pyVoIP's BYE copies the core's Vias; the core sends its own
    await outgoing.wait_for(CallState.ENDED)
    await settle(ours.wait_ended())
    assert (ours.caller, ours.answered_by, ours.status) == (ALICE, BOB, 200)


async def test_a_pyvoip_caller_another_pyvoip_phone_denies_ends_on_503(
    core: OperatorCore, alice: PyVoipPhone, bob: PyVoipPhone
) -> None:
    outgoing = await alice.call(BOB)
    incoming = await bob.next_incoming()
    ours = placed(core, outgoing)
    await incoming.deny()
    await outgoing.wait_for(CallState.ENDED)
    assert outgoing.statuses == [180, 503]  # Bob's 180 relayed; his 486 as 503
    await settle(ours.wait_ended())
    assert (ours.status, ours.disposition) == (486, Disposition.BUSY)


async def test_a_call_pyvoip_denies_gives_the_caller_busy(
    core: OperatorCore, alice: PyVoipPhone
) -> None:
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(ALICE)
    assert isinstance(call, Call)
    incoming = await alice.next_incoming()
    await incoming.deny()
    await settle(call.wait_ended())
    assert (call.status, call.disposition) == (486, Disposition.BUSY)
    assert incoming.state is CallState.ENDED
    assert paris.state is PhoneState.IDLE


async def test_a_call_pyvoip_denies_goes_to_the_busy_forwarding_number(
    core: OperatorCore,
    clock: SimulatedClock,
    forwarding: dict[str, ForwardingRules],
    alice: PyVoipPhone,
) -> None:
    forwarding[ALICE] = ForwardingRules(busy=NEW_YORK)
    new_york = core.add_phone(NEW_YORK, Behaviour(answer_after_s=2))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(ALICE)
    assert isinstance(call, Call)
    incoming = await alice.next_incoming()
    await incoming.deny()
    await settle(new_york.wait_for(PhoneState.RINGING))
    await clock.advance(2)
    await settle(paris.wait_for(PhoneState.IN_CALL))
    paris.hang_up()
    await settle(call.wait_ended())
    assert call.answered_by == NEW_YORK
    [hop] = call.hops
    assert (hop.forwarder, hop.target, hop.reason) == (ALICE, NEW_YORK, ForwardReason.BUSY)


async def test_a_pyvoip_phone_without_a_call_callback_is_always_busy(
    core: OperatorCore,
) -> None:
    async with running(core, BOB, PASSWORD, answers=False) as bob:
        assert bob.status is PhoneStatus.REGISTERED
        paris = core.add_phone(PARIS, NO_ANSWER)
        call = paris.dial(BOB)
        assert isinstance(call, Call)
        await settle(call.wait_ended())
        assert (call.status, call.disposition) == (486, Disposition.BUSY)


async def test_a_line_forwarding_unconditionally_to_pyvoip_rings_it_and_pyvoip_answers(
    core: OperatorCore, clock: SimulatedClock, alice: PyVoipPhone
) -> None:
    records: list[CallRecord] = []
    core.record_sinks.append(records.append)
    core.add_subscriber(
        Subscriber(CAROL, CAROL, PASSWORD),
        owner=CustomerLine("carol-sarl", LineName.VOIP),
        rules=lambda: ForwardingRules(unconditional=ALICE),
    )
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(CAROL)
    assert isinstance(call, Call)
    incoming = await alice.next_incoming()
    assert CAROL in incoming.call.request.headers["Diversion"]  # read by none, kept by pyVoIP
    await incoming.answer()
    await settle(paris.wait_for(PhoneState.IN_CALL))
    await clock.advance(20)
    paris.hang_up()
    await incoming.wait_for(CallState.ENDED)
    await settle(call.wait_ended())
    assert call.answered_by == ALICE
    [hop] = call.hops
    assert (hop.forwarder, hop.target, hop.reason) == (CAROL, ALICE, ForwardReason.UNCONDITIONAL)
    [leg] = records
    assert (leg.account, leg.forwarded_from, leg.callee) == ("carol-sarl", CAROL, ALICE)
    assert leg.duration_s == 20


async def test_pyvoip_answering_after_the_caller_gave_up_is_hung_up_by_the_core(
    core: OperatorCore, clock: SimulatedClock, alice: PyVoipPhone
) -> None:
    mobile = core.add_phone(MOBILE, NO_ANSWER)
    call = mobile.dial(ALICE)
    assert isinstance(call, Call)
    incoming = await alice.next_incoming()
    mobile.hang_up()  # the core CANCELs; pyVoIP 1.6.8 answers 200 but never 487
    await settle(call.wait_ended())
    assert (call.status, call.disposition) == (487, Disposition.NO_ANSWER)
    assert incoming.state is CallState.RINGING  # pyVoIP does not know it was cancelled
    await incoming.answer()  # a late 200: the core must ACK it and hang up
    await incoming.wait_for(CallState.ENDED, within=5)  # a BYE on loopback takes milliseconds
    await clock.advance(600)
    assert len(core.stack.transactions) == 0
    assert core.dialogs == {}
    assert core.active == set()


async def test_a_pyvoip_line_nobody_answers_forwards_to_the_mobile_after_the_ring_timeout(
    core: OperatorCore,
    clock: SimulatedClock,
    forwarding: dict[str, ForwardingRules],
    alice: PyVoipPhone,
) -> None:
    forwarding[ALICE] = ForwardingRules(no_answer=MOBILE, ring_timeout_s=15)
    mobile = core.add_phone(MOBILE, Behaviour(answer_after_s=1))
    paris = core.add_phone(PARIS, NO_ANSWER)
    call = paris.dial(ALICE)
    assert isinstance(call, Call)
    incoming = await alice.next_incoming()
    await clock.advance(15)  # the core CANCELs pyVoIP, which rings on regardless
    await settle(mobile.wait_for(PhoneState.RINGING))
    await clock.advance(1)
    await settle(paris.wait_for(PhoneState.IN_CALL))
    paris.hang_up()
    await settle(call.wait_ended())
    assert call.answered_by == MOBILE
    [hop] = call.hops
    assert (hop.forwarder, hop.target, hop.reason) == (ALICE, MOBILE, ForwardReason.NO_ANSWER)
    assert incoming.state is CallState.RINGING


async def test_two_pyvoip_phones_call_at_once_with_the_same_branch_and_stay_apart(
    core: OperatorCore, inbox: CoreInbox, alice: PyVoipPhone, bob: PyVoipPhone
) -> None:
    mobile = core.add_phone(MOBILE)
    paris = core.add_phone(PARIS)
    first, second = await asyncio.gather(alice.call(MOBILE), bob.call(PARIS))
    await connected(inbox, first)
    await connected(inbox, second)
    # pyVoIP derives branches from a per-phone counter: only the Via sent-by tells them apart.
    branches = {parse_via(invite.headers.get("Via") or "").branch for invite in inbox.of("INVITE")}
    assert len(branches) == 1
    ours = placed(core, first), placed(core, second)
    await first.hangup()
    await settle(ours[0].wait_ended())
    assert second.state is CallState.ANSWERED
    paris.hang_up()
    await second.wait_for(CallState.ENDED)
    await settle(ours[1].wait_ended())
    assert [(call.caller, call.answered_by) for call in ours] == [(ALICE, MOBILE), (BOB, PARIS)]
    assert mobile.state is PhoneState.IDLE
