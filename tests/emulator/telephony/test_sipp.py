"""SIPp against the operator core on 127.0.0.1: registration with digest auth, calls through the
B2BUA between SIPp lines, to and from virtual phones, busy lines and forwarding."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from emulator.telephony.calls import CustomerLine
from emulator.telephony.core import OperatorCore
from emulator.telephony.forwarding import ForwardingRules
from emulator.telephony.phone import Behaviour, PhoneState
from emulator.telephony.registrar import Subscriber
from profiles.clock import SimulatedClock
from profiles.model import LineName
from profiles.records import CallRecord
from tests.emulator.telephony.sipp_runner import (
    SCENARIOS,
    SIPP,
    Account,
    SippAgent,
    run_sipp,
)

pytestmark = pytest.mark.skipif(
    SIPP is None, reason="SIPp is not installed: no 'sipp' on the PATH (Debian: sip-tester)"
)

ALICE = Subscriber("+33970000101", "+33970000101", "alice-Secret")
BOB = Subscriber("+33970000102", "+33970000102", "bob-Secret")
PARIS = "+33145000000"
SHORT_CALL = ("-d", "10")


def account(subscriber: Subscriber, core: OperatorCore, password: str | None = None) -> Account:
    return Account(subscriber.user, password or subscriber.password, subscriber.number, core.domain)


@pytest.fixture
async def core() -> AsyncIterator[OperatorCore]:
    core = await OperatorCore.start(clock=SimulatedClock(dt.datetime(2026, 11, 30, tzinfo=dt.UTC)))
    core.add_subscriber(ALICE)
    core.add_subscriber(BOB)
    yield core
    await core.close()


async def test_sipp_registers_with_digest_auth(core: OperatorCore) -> None:
    result = await run_sipp(
        SCENARIOS / "register_auth.xml", core.address, account=account(ALICE, core), rate=100
    )
    assert result.ok, result.summary()
    assert core.registrar.registered(ALICE.number)


async def test_sipp_with_a_wrong_password_is_forbidden_and_not_registered(
    core: OperatorCore,
) -> None:
    wrong = account(ALICE, core, "not-the-password")
    result = await run_sipp(SCENARIOS / "register_auth.xml", core.address, account=wrong, rate=100)
    assert result.failed == 1
    assert "403 Forbidden" in result.stderr
    assert not core.registrar.registered(ALICE.number)


async def test_calls_between_two_sipp_lines_go_through_the_b2bua(core: OperatorCore) -> None:
    async with await SippAgent.start(
        SCENARIOS / "uas_answer.xml", register_at=core.address, account=account(BOB, core)
    ) as bob:
        result = await run_sipp(
            SCENARIOS / "uac_call.xml",
            core.address,
            calls=5,
            rate=100,
            service=BOB.number,
            account=account(ALICE, core),
            extra=SHORT_CALL,
        )
        assert result.ok, result.summary()
        assert result.successful == 5
        answered = await bob.stop()
    assert answered.successful == 5, answered.summary()
    assert [call.answered_by for call in core.log] == [BOB.number] * 5


async def test_a_virtual_phone_calls_a_sipp_line(core: OperatorCore) -> None:
    async with await SippAgent.start(
        SCENARIOS / "uas_answer.xml", register_at=core.address, account=account(BOB, core)
    ):
        paris = core.add_phone(PARIS, Behaviour(answer_after_s=None))
        call = paris.dial(BOB.number)
        await paris.wait_for(PhoneState.IN_CALL)
        paris.hang_up()
        await call.wait_ended()  # type: ignore[attr-defined]
    assert call.answered_by == BOB.number  # type: ignore[attr-defined]


async def test_a_sipp_caller_reaches_a_virtual_phone_and_a_busy_one_gives_busy_here(
    core: OperatorCore,
) -> None:
    core.add_phone(PARIS, Behaviour(answer_after_s=0))
    result = await run_sipp(
        SCENARIOS / "uac_call.xml",
        core.address,
        rate=100,
        service="0145000000",
        account=account(ALICE, core),
        extra=SHORT_CALL,
    )
    assert result.ok, result.summary()
    core.add_phone("+33612345678", Behaviour(busy=True))
    busy = await run_sipp(
        SCENARIOS / "uac_busy.xml",
        core.address,
        rate=100,
        service="0612345678",
        account=account(ALICE, core),
    )
    assert busy.ok, busy.summary()


async def test_a_sipp_call_to_a_forwarding_line_reaches_the_target_and_charges_the_leg(
    core: OperatorCore,
) -> None:
    carol = Subscriber("+33970000103", "+33970000103", "carol-Secret")
    core.add_subscriber(
        carol,
        owner=CustomerLine("box-carol", LineName.VOIP),
        rules=lambda: ForwardingRules(unconditional=BOB.number),
    )
    records: list[CallRecord] = []
    core.record_sinks.append(records.append)
    async with await SippAgent.start(
        SCENARIOS / "uas_answer.xml", register_at=core.address, account=account(BOB, core)
    ):
        result = await run_sipp(
            SCENARIOS / "uac_call.xml",
            core.address,
            rate=100,
            service=carol.number,
            account=account(ALICE, core),
            extra=SHORT_CALL,
        )
    assert result.ok, result.summary()
    [leg] = records
    assert (leg.account, leg.forwarded_from, leg.callee) == ("box-carol", carol.number, BOB.number)


async def test_a_sipp_caller_who_gives_up_cancels_and_the_phone_stops_ringing(
    core: OperatorCore,
) -> None:
    paris = core.add_phone(PARIS, Behaviour(answer_after_s=None))
    result = await run_sipp(
        SCENARIOS / "uac_cancel.xml",
        core.address,
        rate=100,
        service=PARIS,
        account=account(ALICE, core),
    )
    assert result.ok, result.summary()
    assert paris.state is PhoneState.IDLE
    assert paris.shown == [ALICE.number]
    assert core.log[-1].status == 487


async def test_sipp_calls_over_tcp(core: OperatorCore) -> None:
    core.add_phone(PARIS, Behaviour(answer_after_s=0))
    result = await run_sipp(
        SCENARIOS / "uac_call.xml",
        core.address,
        calls=3,
        rate=10,  # one call at a time: the phone would be busy for an overlapping one
        service=PARIS,
        account=account(ALICE, core),
        extra=(*SHORT_CALL, "-t", "t1"),
    )
    assert result.ok, result.summary()
    assert [call.answered_by for call in core.log] == [PARIS] * 3
