"""The operator core under hostile input: RFC 4475 torture messages, a fuzz run, a flood, no auth.

Everything goes to a real core over UDP on 127.0.0.1 (the fuzz run through the same receive
path, fed in-process so that 100,000 messages take seconds). After each run the core must
still answer, and once simulated time has run out every transaction, dialog and call is gone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from emulator.sip.compose import new_branch
from emulator.sip.message import Response, parse
from emulator.sip.peer import Peer
from emulator.telephony.core import OperatorCore
from emulator.telephony.registrar import Subscriber
from profiles.clock import SimulatedClock
from tests.emulator.sip.test_torture import OUTCOMES, RFC4475, needs_rfc4475

LINE = Subscriber("+33970000001", "+33970000001", "line-secret")


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC))


@pytest.fixture
async def core(clock: SimulatedClock) -> AsyncIterator[OperatorCore]:
    core = await OperatorCore.start(clock=clock, guard=False)
    core.add_subscriber(LINE)
    yield core
    await core.close()


class Phone:
    """A raw UDP socket on 127.0.0.1 that sends bytes and reads what comes back."""

    def __init__(self, core: OperatorCore, host: str = "127.0.0.1") -> None:
        self.core = core
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((host, 0))
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.socket.sendto(data, (self.core.host, self.core.port))

    async def receive(self) -> bytes:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(self.socket, 65_535), timeout=10)

    async def probe(self) -> list[int]:
        """Send an OPTIONS; return the statuses of the answers read up to its 200 (loopback
        datagrams arrive in order, and the core answers in order). Statuses are read from
        the status line: an answer to a broken request copies its broken headers."""
        branch = new_branch()
        self.send(options(self.port, branch))
        seen: list[int] = []
        while True:
            data = await self.receive()
            assert data.startswith(b"SIP/2.0 "), data[:40]
            status = int(data.split(b" ", 2)[1])
            if branch.encode() in data:
                assert status == 200
                return seen
            seen.append(status)

    def close(self) -> None:
        self.socket.close()


def options(port: int, branch: str) -> bytes:
    return (
        f"OPTIONS sip:core@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@lab.invalid>;tag=p\r\n"
        "To: <sip:core@lab.invalid>\r\n"
        f"Call-ID: {branch}@probe\r\n"
        "CSeq: 1 OPTIONS\r\n\r\n"
    ).encode()


async def drained(core: OperatorCore, clock: SimulatedClock) -> None:
    """Let every timer run out; nothing may be left behind."""
    await clock.advance(600)
    assert len(core.stack.transactions) == 0
    assert core.dialogs == {}
    assert core.active == set()


@needs_rfc4475
async def test_the_core_survives_every_torture_message_and_answers_the_bad_ones(
    core: OperatorCore, clock: SimulatedClock
) -> None:
    phone = Phone(core)
    try:
        for name, outcome in sorted(OUTCOMES.items()):
            phone.send((RFC4475 / name).read_bytes())
            statuses = await phone.probe()
            if outcome.kind == "reject" and outcome.answer:
                assert statuses == [outcome.status], name
            elif outcome.kind == "check":
                assert outcome.status in statuses, (name, statuses)
            elif outcome.kind in ("drop",) or not outcome.answer:
                assert statuses == [], name
            else:  # valid: handled (401 for calls and registrations without credentials),
                # or 501 for a method the core does not implement (MESSAGE)
                assert all(status < 500 or status == 501 for status in statuses), (name, statuses)
    finally:
        phone.close()
    await drained(core, clock)


async def test_a_register_or_invite_without_credentials_gets_401_and_wrong_ones_403(
    core: OperatorCore,
) -> None:
    phone = Phone(core)
    try:
        for method in ("REGISTER", "INVITE"):
            phone.send(request(method, phone.port, authorization=None))
            final = parse(await phone.receive())  # no 100 Trying before a challenge
            assert isinstance(final, Response)
            assert final.status == 401
            assert final.headers.get_all("WWW-Authenticate")[0].startswith("Digest")
            assert "algorithm=MD5" in final.headers.get_all("WWW-Authenticate")[0]
            challenge = final.headers.get_all("WWW-Authenticate")[0]
            nonce = challenge.split('nonce="')[1].split('"')[0]
            phone.send(request(method, phone.port, authorization=wrong_answer(nonce, method)))
            last = parse(await phone.receive())
            assert isinstance(last, Response)
            assert last.status == 403
    finally:
        phone.close()


def request(method: str, port: int, *, authorization: str | None) -> bytes:
    branch = new_branch()
    lines = [
        f"{method} sip:{'+33612345678@127.0.0.1' if method == 'INVITE' else '127.0.0.1'} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{LINE.number}@127.0.0.1>;tag=f",
        f"To: <sip:{'+33612345678' if method == 'INVITE' else LINE.number}@127.0.0.1>",
        f"Call-ID: {branch}@test",
        f"CSeq: 1 {method}",
        f"Contact: <sip:{LINE.number}@127.0.0.1:{port}>",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wrong_answer(nonce: str, method: str) -> str:
    from emulator.sip.digest import Challenge, answer

    challenge = Challenge(realm="sip.livebox-lab.invalid", nonce=nonce, algorithm="MD5")
    uri = "sip:+33612345678@127.0.0.1" if method == "INVITE" else "sip:127.0.0.1"
    return answer(challenge, method=method, uri=uri, username=LINE.user, password="guess")


async def test_a_flood_from_one_address_is_throttled_and_others_still_served(
    clock: SimulatedClock,
) -> None:
    core = await OperatorCore.start(clock=clock)  # the default guard: 200/s, bursts of 400
    flood = Phone(core, "127.0.0.1")
    other = Phone(core, "127.0.0.2")
    try:
        # Fed through the receive path, so that no socket buffer can drop any of them.
        source = Peer("127.0.0.1", flood.port)
        for _ in range(1000):
            core.endpoint.receive_datagram(options(flood.port, new_branch()), source)
        assert await other.probe() == []  # another address is served during the flood
        stats = core.endpoint.stats
        assert (stats.received, stats.throttled, stats.sent) == (1001, 600, 401)
        await clock.advance(5)  # the bucket refills: the flooder is served again
        flood.close()
        flood = Phone(core, "127.0.0.1")  # (its old socket overflowed with 400 answers)
        assert await flood.probe() == []
    finally:
        flood.close()
        other.close()
        await core.close()


# --- the fuzz run -------------------------------------------------------------------------


def seeds(port: int) -> list[bytes]:
    """Valid messages of every method the core handles, and the torture corpus when present."""
    made = [request(m, port, authorization=None) for m in ("REGISTER", "INVITE")]
    made.append(options(port, new_branch()))
    for method in ("BYE", "CANCEL", "ACK", "MESSAGE"):
        made.append(request("INVITE", port, authorization=None).replace(b"INVITE", method.encode()))
    if RFC4475.is_dir():
        made += [path.read_bytes() for path in sorted(RFC4475.glob("*.dat"))]
    return made


def mutations(seed_messages: list[bytes], count: int, rng: random.Random) -> Iterator[bytes]:
    """Byte flips, insertions, deletions, cut-offs, repeated and dropped lines."""
    for _ in range(count):
        data = bytearray(rng.choice(seed_messages))
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(6)
            at = rng.randrange(len(data) or 1)
            if kind == 0 and data:
                data[at] = rng.randrange(256)
            elif kind == 1:
                data[at:at] = rng.choice(
                    [b"\r\n", b":", b";", b"<", b"%", b"\x00", b" ", b"SIP/2.0"]
                )
            elif kind == 2:
                del data[at : at + rng.randint(1, 16)]
            elif kind == 3:
                data = data[:at]
            else:
                lines = bytes(data).split(b"\r\n")
                i = rng.randrange(len(lines))
                if kind == 4:
                    lines.insert(i, lines[i])
                else:
                    del lines[i]
                data = bytearray(b"\r\n".join(lines))
        yield bytes(data)


async def test_a_fuzz_run_of_100000_mutated_messages_crashes_nothing_and_leaves_nothing(
    core: OperatorCore, clock: SimulatedClock
) -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where the answers go
    sink.bind(("127.0.0.1", 0))
    source = Peer("127.0.0.1", sink.getsockname()[1])
    stats = core.endpoint.stats
    rng = random.Random(4475)
    try:
        for index, data in enumerate(mutations(seeds(source.port), 100_000, rng)):
            core.endpoint.receive_datagram(data, source)
            if index % 2000 == 0:
                await asyncio.sleep(0)  # let the loop send the answers
                while True:
                    try:
                        sink.recv(65_535, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
        assert stats.handler_errors == 0
        assert stats.received == 100_000
    finally:
        sink.close()
    phone = Phone(core)
    try:
        await phone.probe()  # still answers
    finally:
        phone.close()
    await drained(core, clock)


async def test_an_invite_that_has_run_out_of_hops_gets_483(core: OperatorCore) -> None:
    from emulator.sip.digest import Challenge, answer

    phone = Phone(core)
    try:
        phone.send(request("REGISTER", phone.port, authorization=None))
        challenge = parse(await phone.receive()).headers.get("WWW-Authenticate") or ""
        nonce = challenge.split('nonce="')[1].split('"')[0]
        good = answer(
            Challenge(realm=core.domain, nonce=nonce, algorithm="MD5"),
            method="REGISTER",
            uri="sip:127.0.0.1",
            username=LINE.user,
            password=LINE.password,
        )
        phone.send(request("REGISTER", phone.port, authorization=good))
        registered = parse(await phone.receive())
        assert isinstance(registered, Response)
        assert registered.status == 200
        # From where it registered, the line is trusted: 100 Trying, then the hop count.
        invite = request("INVITE", phone.port, authorization=None)
        phone.send(invite.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
        statuses = [int((await phone.receive()).split(b" ", 2)[1]) for _ in range(2)]
        assert statuses == [100, 483]
    finally:
        phone.close()
