"""The lab's SIPp scenarios played against SIPp itself, and the runner the tests drive them with."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path
from typing import cast

import pytest

from emulator.sip.compose import new_tag, response_to
from emulator.sip.digest import DigestAuthority
from emulator.sip.headers import parse_name_addr
from emulator.sip.message import Request, Response, parse, serialize
from profiles.clock import SimulatedClock
from tests.emulator.telephony import sipp_runner
from tests.emulator.telephony.sipp_runner import (
    SCENARIOS,
    SIPP,
    Account,
    SippAgent,
    SippError,
    SippResult,
    SippTimeout,
    check_scenario,
    credentials_of,
    run_sipp,
    write_injection,
)

needs_sipp = pytest.mark.skipif(
    SIPP is None, reason="SIPp is not installed: no 'sipp' on the PATH (Debian: sip-tester)"
)

ALICE = Account("alice", "s3cret-Line", "+33100000001", "lab.test")
BOB = "+33100000002"
SHORT_CALL = ("-d", "10")  # the caller hangs up 10 ms after the answer


async def call(
    target: str,
    scenario: str = "uac_call.xml",
    *,
    calls: int = 3,
    account: Account = ALICE,
    timeout_s: float = 60,
) -> SippResult:
    """Alice's calls to Bob through `target`, at 100 calls/s."""
    return await run_sipp(
        SCENARIOS / scenario,
        target,
        calls=calls,
        rate=100,
        service=BOB,
        account=account,
        extra=SHORT_CALL,
        timeout_s=timeout_s,
    )


# The scenarios against SIPp's own.


@needs_sipp
async def test_a_call_to_sipps_own_answerer_succeeds() -> None:
    bob = await SippAgent.start("uas")
    try:
        result = await call(bob.address)
    finally:
        await bob.stop(timeout_s=0)  # its calls linger 4 s after their BYE: not waited for
    assert result.ok, result.summary()
    assert (result.successful, result.failed) == (3, 0)


@needs_sipp
async def test_the_answering_line_answers_sipps_own_caller() -> None:
    async with await SippAgent.start(SCENARIOS / "uas_answer.xml") as bob:
        result = await run_sipp("uac", bob.address, calls=3, rate=100, extra=SHORT_CALL)
    assert result.ok, result.summary()
    answered = await bob.stop()
    assert (answered.successful, answered.failed) == (3, 0), answered.summary()


# The scenarios against each other.


@needs_sipp
async def test_a_caller_and_the_answering_line_complete_their_calls() -> None:
    async with await SippAgent.start(SCENARIOS / "uas_answer.xml") as bob:
        result = await call(bob.address, calls=5)
    assert result.ok, result.summary()
    assert result.successful == 5
    assert (await bob.stop()).successful == 5


@needs_sipp
async def test_a_challenged_caller_authenticates_and_follows_the_tags_of_the_answer(
    tmp_path: Path,
) -> None:
    # The far end challenges, rings with one To tag and answers with another tag, Contact and
    # Record-Route, as the operator core does for a forwarded call; it checks the ACK and BYE.
    expected = write_injection(tmp_path / "expected.csv", [ALICE])
    async with await SippAgent.start(
        SCENARIOS / "uas_challenge.xml", extra=("-inf", str(expected))
    ) as core:
        result = await call(core.address)
    assert result.ok, result.summary()
    far_end = await core.stop()
    assert (far_end.successful, far_end.failed) == (3, 0), far_end.summary()


@needs_sipp
async def test_a_caller_with_a_wrong_password_fails_its_calls(tmp_path: Path) -> None:
    expected = write_injection(tmp_path / "expected.csv", [ALICE])
    wrong = Account(ALICE.user, "not-the-password", ALICE.number, ALICE.domain)
    async with await SippAgent.start(
        SCENARIOS / "uas_challenge.xml", extra=("-inf", str(expected))
    ) as core:
        result = await call(core.address, calls=1, account=wrong)
    assert (result.returncode, result.successful, result.failed) == (1, 0, 1)
    assert "403 Forbidden" in result.stderr


@needs_sipp
async def test_a_line_registers_with_its_digest_credentials(tmp_path: Path) -> None:
    expected = write_injection(tmp_path / "expected.csv", [ALICE])
    async with await SippAgent.start(
        SCENARIOS / "registrar_challenge.xml", extra=("-inf", str(expected))
    ) as registrar:
        result = await run_sipp(
            SCENARIOS / "register_auth.xml", registrar.address, account=ALICE, rate=100
        )
    assert result.ok, result.summary()


@needs_sipp
async def test_a_registration_with_a_wrong_password_is_forbidden(tmp_path: Path) -> None:
    expected = write_injection(tmp_path / "expected.csv", [ALICE])
    wrong = Account(ALICE.user, "not-the-password", ALICE.number, ALICE.domain)
    async with await SippAgent.start(
        SCENARIOS / "registrar_challenge.xml", extra=("-inf", str(expected))
    ) as registrar:
        result = await run_sipp(
            SCENARIOS / "register_auth.xml", registrar.address, account=wrong, rate=100
        )
    assert result.failed == 1
    assert "403 Forbidden" in result.stderr


@needs_sipp
async def test_a_caller_to_a_busy_line_gets_busy_here() -> None:
    async with await SippAgent.start(SCENARIOS / "uas_busy.xml") as bob:
        result = await call(bob.address, "uac_busy.xml")
    assert result.ok, result.summary()
    refused = await bob.stop()
    assert (refused.successful, refused.failed) == (3, 0), refused.summary()


@needs_sipp
async def test_a_caller_who_gives_up_cancels_the_ringing_line() -> None:
    async with await SippAgent.start(SCENARIOS / "uas_no_answer.xml") as bob:
        result = await call(bob.address, "uac_cancel.xml")
    assert result.ok, result.summary()
    cancelled = await bob.stop()
    assert (cancelled.successful, cancelled.failed) == (3, 0), cancelled.summary()


class Phone(asyncio.DatagramProtocol):
    """A bare SIP caller on a UDP socket, for what SIPp will not do: send an INVITE again."""

    def __init__(self) -> None:
        self.responses: asyncio.Queue[Response] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse(data)
        if isinstance(message, Response):
            self.responses.put_nowait(message)

    async def response(self, method: str) -> Response:
        """The next response to a `method` request (others, e.g. a repeated 200, are skipped)."""
        while True:
            response = await asyncio.wait_for(self.responses.get(), 10)
            if (response.headers.get("CSeq") or "").endswith(method):
                return response


def request(method: str, port: int, cseq: int, to_tag: str = "") -> bytes:
    to = "<sip:bob@lab.test>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{method.lower()}-{cseq}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@lab.test>;tag=a1\r\n"
        f"To: {to}\r\nCall-ID: sent-again@127.0.0.1\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:alice@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@needs_sipp
async def test_the_answering_line_answers_an_invite_sent_again() -> None:
    # The caller lost the 180 and the 200 and sends its INVITE again: the 200 comes again.
    loop = asyncio.get_running_loop()
    transport, phone = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        async with await SippAgent.start(SCENARIOS / "uas_answer.xml") as bob:
            to_bob = ("127.0.0.1", bob.port)
            transport.sendto(request("INVITE", port, 1), to_bob)
            assert (await phone.response("INVITE")).status == 180
            assert (await phone.response("INVITE")).status == 200
            transport.sendto(request("INVITE", port, 1), to_bob)
            answer = await phone.response("INVITE")
            assert answer.status == 200
            tag = parse_name_addr(answer.headers.get("To") or "").tag or ""
            transport.sendto(request("ACK", port, 1, tag), to_bob)
            transport.sendto(request("BYE", port, 2, tag), to_bob)
            assert (await phone.response("BYE")).status == 200
        assert (await bob.stop()).successful == 1
    finally:
        transport.close()


@needs_sipp
@pytest.mark.parametrize("scenario", sorted(SCENARIOS.glob("*.xml")), ids=lambda path: path.stem)
async def test_sipp_loads_every_scenario(scenario: Path) -> None:
    await check_scenario(scenario, account=ALICE)


@needs_sipp
async def test_a_broken_scenario_is_refused_with_sipps_complaint(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text(
        '<?xml version="1.0"?>\n<scenario name="broken">\n'
        '  <recv request="INVITE" next="nowhere" />\n</scenario>\n'
    )
    with pytest.raises(SippError, match="The label 'nowhere' was not defined"):
        await check_scenario(broken)


# Registration from the agent's own port, checked by the lab's digest code.


class Registrar(asyncio.DatagramProtocol):
    """Challenges REGISTERs with the lab's DigestAuthority; notes where accepted ones came from."""

    def __init__(self) -> None:
        self.authority = DigestAuthority(
            realm="lab.test",
            secret_key=b"a test key, 16 bytes or more",
            clock=SimulatedClock(),
            password_of={ALICE.user: ALICE.password}.get,
        )
        self.registered_from: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = parse(data)
        assert isinstance(request, Request)
        verdict = self.authority.verify("REGISTER", request.headers.get_all("Authorization"))
        if verdict.ok:
            self.registered_from.append(addr)
            response = response_to(request, 200, to_tag=new_tag())
        else:
            challenges = [("WWW-Authenticate", c.to_header()) for c in verdict.challenges]
            response = response_to(request, verdict.status or 500, headers=challenges)
        assert self.transport is not None
        self.transport.sendto(serialize(response), addr)


@needs_sipp
async def test_an_agent_registers_from_the_port_it_then_answers_on() -> None:
    loop = asyncio.get_running_loop()
    transport, registrar = await loop.create_datagram_endpoint(
        Registrar, local_addr=("127.0.0.1", 0)
    )
    try:
        host, port = transport.get_extra_info("sockname")
        async with await SippAgent.start(
            SCENARIOS / "uas_answer.xml", register_at=f"{host}:{port}", account=ALICE
        ) as bob:
            result = await call(bob.address, calls=1)
        assert registrar.registered_from == [("127.0.0.1", bob.port)]
        assert result.ok, result.summary()
    finally:
        transport.close()


# The runner.


@needs_sipp
async def test_agents_started_together_listen_on_different_ports() -> None:
    agents = await asyncio.gather(*(SippAgent.start("uas") for _ in range(4)))
    try:
        assert len({agent.port for agent in agents}) == 4
    finally:
        await asyncio.gather(*(agent.stop() for agent in agents))


@needs_sipp
async def test_an_agent_asked_for_a_taken_port_says_so() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(SippError, match=r"did not start(.|\n)*Address already in use"):
            await SippAgent.start("uas", local_port=port)


@needs_sipp
async def test_a_port_taken_between_its_choice_and_sipps_bind_is_chosen_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        offered: list[int] = []
        choose = sipp_runner._choose_ports

        def taken_first(host: str, sip: int) -> sipp_runner._Ports:
            ports = choose(host, sip) if offered else dataclasses.replace(choose(host, 0), sip=port)
            offered.append(ports.sip)
            return ports

        monkeypatch.setattr(sipp_runner, "_choose_ports", taken_first)
        async with await SippAgent.start("uas") as bob:
            assert offered[0] == port
            assert bob.port == offered[-1] != port


@needs_sipp
async def test_a_run_past_its_time_limit_is_stopped() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # never answers
        silent.bind(("127.0.0.1", 0))
        host, port = silent.getsockname()
        with pytest.raises(SippTimeout, match=r"stopped after 0\.2 s") as stopped:
            await call(f"{host}:{port}", calls=1, timeout_s=0.2)
    assert stopped.value.result.successful == 0


def test_an_account_field_that_an_injection_file_cannot_carry_is_refused() -> None:
    with pytest.raises(SippError, match="the account's user 'al;ice' is empty or holds ';'"):
        Account("al;ice", "pw", "+33100000001", "lab.test")


def test_the_credentials_come_from_the_injection_file(tmp_path: Path) -> None:
    inf = write_injection(tmp_path / "lines.csv", [ALICE, ALICE])
    assert credentials_of(inf) == ("alice", "s3cret-Line")


def test_an_injection_file_with_two_users_is_refused(tmp_path: Path) -> None:
    bob = Account("bob", "pw", BOB, "lab.test")
    inf = write_injection(tmp_path / "lines.csv", [ALICE, bob])
    with pytest.raises(SippError, match=r"holds 2 different credentials \(alice, bob\)"):
        credentials_of(inf)


async def test_a_run_needs_at_least_one_call() -> None:
    with pytest.raises(SippError, match="at least one call, not 0"):
        await run_sipp(SCENARIOS / "uac_call.xml", "127.0.0.1:5060", calls=0)


async def test_a_scenario_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SippError, match=r"the scenario .*missing\.xml does not exist"):
        await run_sipp(tmp_path / "missing.xml", "127.0.0.1:5060")


async def test_a_name_that_sipp_does_not_carry_is_refused() -> None:
    with pytest.raises(SippError, match="'uax' is not a scenario built into SIPp"):
        await SippAgent.start("uax")


async def test_an_account_and_an_injection_file_together_are_refused(tmp_path: Path) -> None:
    inf = write_injection(tmp_path / "lines.csv", [ALICE])
    with pytest.raises(SippError, match="either an injection file or an account, not both"):
        await run_sipp(SCENARIOS / "uac_call.xml", "127.0.0.1:5060", inf=inf, account=ALICE)
