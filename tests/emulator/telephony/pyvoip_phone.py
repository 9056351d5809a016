"""Real pyVoIP 1.6.8 phones driven from asyncio tests against the operator core on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Final

from emulator.sip.message import Request
from emulator.sip.peer import Peer
from emulator.sip.transaction import ServerTransaction
from emulator.telephony.core import OperatorCore

with warnings.catch_warnings():
    # pyVoIP imports audioop, deprecated since Python 3.11 (and gone in 3.13).
    warnings.simplefilter("ignore", DeprecationWarning)
    # pyVoIP.VoIP first: importing pyVoIP.SIP before it trips over a circular import.
    import pyVoIP.VoIP
    from pyVoIP.SIP import SIPMessage, SIPMessageType
    from pyVoIP.VoIP import CallState, PhoneStatus, VoIPCall

__all__ = [
    "WAIT_S",
    "CallState",
    "CoreInbox",
    "PhoneStatus",
    "PyVoipCall",
    "PyVoipPhone",
    "running",
]

WAIT_S: Final = 15.0
"""Bound on every wait: a broken phone or core fails the test instead of hanging it."""
REGISTER_TIMEOUT_S: Final = 2.0
"""pyVoIP's own wait for each REGISTER answer (30 s by default), also bounding `stop()`."""
BIND_ATTEMPTS: Final = 5
"""New phones tried when another process takes the probed SIP port before pyVoIP binds it."""
UNBLOCK_ATTEMPTS: Final = 10
"""Datagrams sent, `UNBLOCK_WAIT_S` apart, to a phone whose `call()` blocks its `stop()`."""
UNBLOCK_WAIT_S: Final = 0.5
THREAD_END_S: Final = 5.0
"""How long a pyVoIP thread may take to end once its phone is stopped (its loops poll)."""
LIVE: Final = frozenset({CallState.RINGING, CallState.ANSWERED})

# RTP: each phone gets a block of ports of its own, below Linux's ephemeral range (32768 up)
# so that no port-0 bind of another test takes one. The block's first port stays bound by
# the harness while the phone lives: that reserves the block against every other phone,
# in this process and in parallel test processes.
RTP_FIRST: Final = 20_000
RTP_LAST: Final = 32_759
RTP_BLOCK: Final = 20


class _RtpBlock:
    """A block of RTP ports reserved for one phone; pyVoIP picks in `low`..`high`."""

    def __init__(self, marker: socket.socket, base: int) -> None:
        self._marker = marker
        self.low = base + 1
        self.high = base + RTP_BLOCK - 1

    @classmethod
    def reserve(cls) -> _RtpBlock:
        bases = range(RTP_FIRST, RTP_LAST - RTP_BLOCK + 2, RTP_BLOCK)
        # Parallel test processes start at different blocks, so they rarely try the same one.
        start = os.getpid() % len(bases)
        for base in itertools.chain(bases[start:], bases[:start]):
            marker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                marker.bind(("127.0.0.1", base))
            except OSError:
                marker.close()
                continue
            if all(_bindable(port) for port in range(base + 1, base + RTP_BLOCK)):
                return cls(marker, base)
            marker.close()
        raise OSError(errno.EADDRINUSE, f"no free block of {RTP_BLOCK} RTP ports on 127.0.0.1")

    def release(self) -> None:
        self._marker.close()  # idempotent


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_sip_port() -> int:
    """A UDP port free right now on 127.0.0.1 (pyVoIP cannot use 0: it would advertise 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class _ObservedPhone(pyVoIP.VoIP.VoIPPhone):
    """A VoIPPhone that reports every change of its registration status.

    pyVoIP writes `_status` from its register, receive and caller threads; the property
    turns each write into a call of `on_change`, so that waits are driven by events.
    """

    def __init__(
        self,
        on_change: Callable[[], None],
        *,
        server: str,
        port: int,
        number: str,
        password: str,
        sip_port: int,
        rtp: _RtpBlock,
        ring: Callable[[VoIPCall], None] | None,
    ) -> None:
        self._on_change = on_change
        self._observed_status = PhoneStatus.INACTIVE
        super().__init__(
            server=server,
            port=port,
            username=number,
            password=password,
            myIP="127.0.0.1",
            callCallback=ring,
            sipPort=sip_port,
            rtpPortLow=rtp.low,
            rtpPortHigh=rtp.high,
        )

    @property
    def _status(self) -> PhoneStatus:
        return self._observed_status

    @_status.setter
    def _status(self, value: PhoneStatus) -> None:
        self._observed_status = value
        self._on_change()


class PyVoipPhone:
    """A pyVoIP VoIPPhone registered with an operator core, driven from the event loop.

    pyVoIP runs its own threads on real time: every blocking call of it runs in a worker
    thread, and its threads wake the event loop whenever its state may have changed (its
    status, or a message its receive thread handled). Every wait is bounded by `WAIT_S`.
    Always `stop()` it (or use `running`): pyVoIP's threads are not daemons, and one left
    running keeps the test process alive.

    >>> phone = await PyVoipPhone.start(core, "+33612345678", "secret")  # doctest: +SKIP
    >>> call = await phone.call("+33145000000")                           # doctest: +SKIP
    >>> await call.wait_for(CallState.ANSWERED)                           # doctest: +SKIP
    """

    def __init__(
        self,
        core: OperatorCore,
        number: str,
        password: str,
        *,
        sip_port: int,
        rtp: _RtpBlock,
        answers: bool,
        register_timeout: float,
    ) -> None:
        self.number = number
        self.sip_port = sip_port
        self.rtp_ports = range(rtp.low, rtp.high + 1)
        #: (Call-ID, status) of every response pyVoIP's receive thread handled, in order. The
        #: 100/180/401 that `call()` consumes itself, and REGISTER answers, are not in it.
        self.responses: list[tuple[str, int]] = []
        self._rtp = rtp
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._condition = threading.Condition()
        self._incoming: asyncio.Queue[VoIPCall] = asyncio.Queue()
        self._calls: list[VoIPCall] = []
        self._probes = itertools.count(1)
        self._dialling = 0
        self._stopping = False
        self._stopped = False
        self.phone = _ObservedPhone(
            self._poke,
            server=core.host,
            port=core.port,
            number=number,
            password=password,
            sip_port=sip_port,
            rtp=rtp,
            ring=self._ring if answers else None,
        )
        sip = self.phone.sip
        sip.register_timeout = register_timeout  # type: ignore[assignment]
        # pyVoIP 1.6.8 races with itself around `call()`: its receive thread may handle the
        # callee's answer before `call()` has stored the new call (the 200 or 503 is then
        # lost and the call stays DIALING), and may leave the socket non-blocking when the
        # INVITE's blocking read starts (BlockingIOError). A re-entrant lock lets `_dial`
        # hold the receive lock over all of `call()` with the socket made blocking first.
        sip.recvLock = threading.RLock()  # type: ignore[assignment]
        handle = sip.parse_message

        def observed(message: SIPMessage) -> None:
            try:
                if message.type is not SIPMessageType.MESSAGE:
                    self.responses.append((message.headers["Call-ID"], int(message.status)))
                handle(message)
            finally:
                self._poke()

        sip.parse_message = observed  # type: ignore[method-assign]

    # -- starting and stopping --------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        core: OperatorCore,
        number: str,
        password: str,
        *,
        answers: bool = True,
        register_timeout: float = REGISTER_TIMEOUT_S,
    ) -> PyVoipPhone:
        """Start a phone on a free port; return once it is REGISTERED or FAILED.

        `number` is also the SIP user name (pyVoIP's AoR is sip:<username>@<server>).
        `answers` False gives pyVoIP no call callback: it then answers every call 486.
        A REGISTERED phone is also listening (its receive thread runs) when this returns.
        """
        rtp = _RtpBlock.reserve()
        for attempt in range(1, BIND_ATTEMPTS + 1):
            phone = cls(
                core,
                number,
                password,
                sip_port=_free_sip_port(),
                rtp=rtp,
                answers=answers,
                register_timeout=register_timeout,
            )
            try:
                await asyncio.wait_for(asyncio.to_thread(phone.phone.start), WAIT_S)
                await phone.wait_for_status(PhoneStatus.REGISTERED, PhoneStatus.FAILED)
                if phone.status is PhoneStatus.REGISTERED:
                    await phone._listening()
            except BaseException as exc:
                taken = isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE
                if taken and attempt < BIND_ATTEMPTS:
                    continue  # another process bound the port after the probe: try another
                await phone.stop()
                raise
            return phone
        raise AssertionError("unreachable")  # pragma: no cover

    async def stop(self) -> None:
        """Hang up, de-register, close the socket and end every thread this phone started.

        Safe to call twice, and on a phone that failed to register or to start.
        """
        if self._stopped:
            return
        self._stopped = True
        self._stopping = True
        self._poke()  # releases the call callbacks still waiting for their call to end
        try:
            await asyncio.wait_for(asyncio.to_thread(self._shut_down), WAIT_S)
        finally:
            self._rtp.release()

    def _shut_down(self) -> None:
        self._unblock_dialling()
        self.phone.stop()  # BYE for answered calls, REGISTER with Expires: 0
        clients = [client for call in self._calls for client in call.RTPClients]
        # RTP of calls pyVoIP no longer lists is not stopped by `stop()`.
        for client in clients:
            with contextlib.suppress(AttributeError, OSError):
                if client.NSD:
                    client.stop()  # AttributeError: a client that never started
        # Every pyVoIP thread is a Timer running a method of the phone, of its SIP client,
        # of an RTP client, or the harness's call callback: end this phone's, and only its.
        owners = [self, self.phone, self.phone.sip, *clients]
        for thread in threading.enumerate():
            if isinstance(thread, threading.Timer) and any(
                getattr(thread.function, "__self__", None) is owner for owner in owners
            ):
                thread.cancel()  # one still waiting to start never runs
                thread.join(THREAD_END_S)
                if thread.is_alive():
                    raise AssertionError(f"pyVoIP thread {thread.name!r} still runs after stop()")

    @property
    def status(self) -> PhoneStatus:
        return self.phone.get_status()

    # -- calls ------------------------------------------------------------------------------

    async def call(self, number: str) -> PyVoipCall:
        """Dial `number`; return once the core has answered 100 Trying (or 180), with the call
        DIALING (or already past it).

        pyVoIP pastes the number into its Request-URI as it is, where a `#` is not allowed
        (the core would answer 400, which pyVoIP ignores, and `call()` would block): it is
        sent escaped, `%23`, which the core reads back as `#`.
        """
        try:
            call = await asyncio.wait_for(
                asyncio.to_thread(self._dial, number.replace("#", "%23")), WAIT_S
            )
        except TimeoutError:
            raise AssertionError(
                f"pyVoIP phone {self.number}: no 100 Trying nor 180 to its INVITE to {number} "
                f"within {WAIT_S} s"
            ) from None
        self._calls.append(call)
        return PyVoipCall(self, call)

    def _dial(self, number: str) -> VoIPCall:
        with self._condition:
            self._dialling += 1
        try:
            sip = self.phone.sip
            with sip.recvLock:
                sip.s.setblocking(True)
                return self.phone.call(number)
        finally:
            with self._condition:
                self._dialling -= 1
                self._condition.notify_all()

    def _unblock_dialling(self) -> None:
        """A `call()` still blocked on its INVITE holds the receive lock that `stop()`
        needs: a datagram pyVoIP cannot parse makes it raise and let go."""
        for _ in range(UNBLOCK_ATTEMPTS):
            with self._condition:
                if not self._dialling:
                    return
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(b"unblock\r\n\r\n", ("127.0.0.1", self.sip_port))
            with self._condition:
                if self._condition.wait_for(lambda: not self._dialling, UNBLOCK_WAIT_S):
                    return

    async def next_incoming(self) -> PyVoipCall:
        """The next call that rang this phone (pyVoIP hands it over 1 s after the INVITE)."""
        try:
            call = await asyncio.wait_for(self._incoming.get(), WAIT_S)
        except TimeoutError:
            raise AssertionError(f"no call rang pyVoIP phone {self.number} in {WAIT_S} s") from None
        return PyVoipCall(self, call)

    def _ring(self, call: VoIPCall) -> None:
        """pyVoIP's call callback, on a thread of its own: hand the call to the test, then
        stay until the call is over, since pyVoIP forgets (without stopping its RTP) the
        calls whose callback has returned."""
        self._calls.append(call)
        self._post(lambda: self._incoming.put_nowait(call))
        with self._condition:
            self._condition.wait_for(
                lambda: call.state not in LIVE or self._stopping, timeout=4 * WAIT_S
            )

    # -- waiting ----------------------------------------------------------------------------

    async def wait_for_status(self, *statuses: PhoneStatus) -> None:
        names = " or ".join(status.name for status in statuses)
        await self.until(lambda: self.status in statuses, f"status {names}")

    async def until(self, ready: Callable[[], bool], what: str, within: float = WAIT_S) -> None:
        """Return once `ready()` holds; it is checked whenever pyVoIP's state may change."""
        try:
            async with asyncio.timeout(within):
                while not ready():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"pyVoIP phone {self.number}: no {what} within {within} s "
                f"(status {self.status.name})"
            ) from None

    async def _listening(self) -> None:
        """Wait until pyVoIP's receive thread runs (it starts 1 s after `start()`): send it
        a stray 100 Trying, which it reads and ignores, until the harness sees it handled."""
        call_id = f"listening-{next(self._probes)}@harness"
        probe = (
            "SIP/2.0 100 Trying\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKharness\r\n"
            "From: <sip:harness@127.0.0.1>;tag=harness\r\n"
            f"To: <sip:{self.number}@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 INVITE\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(probe, ("127.0.0.1", self.sip_port))
        await self.until(
            lambda: (call_id, 100) in self.responses, "receive thread handling messages"
        )

    def _poke(self) -> None:
        """Something may have changed (called from any thread): wake every waiter."""
        with self._condition:
            self._condition.notify_all()
        self._post(self._changed.set)

    def _post(self, action: Callable[[], None]) -> None:
        # pyVoIP's threads may outlive the test's event loop.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(action)


class PyVoipCall:
    """One call of a pyVoIP phone, placed or received; its actions run off the event loop."""

    def __init__(self, phone: PyVoipPhone, call: VoIPCall) -> None:
        self.phone = phone
        self.call = call

    def __repr__(self) -> str:
        return f"PyVoipCall({self.call_id}, {self.state.name})"

    @property
    def call_id(self) -> str:
        return str(self.call.call_id)

    @property
    def state(self) -> CallState:
        return self.call.state

    @property
    def statuses(self) -> list[int]:
        """Statuses of the responses to this call that pyVoIP's receive thread handled."""
        return [status for call_id, status in self.phone.responses if call_id == self.call_id]

    async def answer(self) -> None:
        await self._act(self.call.answer)

    async def deny(self) -> None:
        """Refuse the ringing call: pyVoIP answers 486 Busy Here."""
        await self._act(self._deny)

    def _deny(self) -> None:
        try:
            self.call.deny()
        except AttributeError:
            # pyVoIP 1.6.8 has sent its 486, then fails stopping RTP it never started, and
            # leaves the call ringing (pyVoIP issue #243): end it as deny() meant to.
            self.call.state = CallState.ENDED
            self.phone.phone.calls.pop(self.call_id, None)

    async def hangup(self) -> None:
        await self._act(self.call.hangup)

    async def wait_for(self, state: CallState, within: float = WAIT_S) -> None:
        await self.phone.until(
            lambda: self.state is state, f"call {self.call_id} {state.name}", within
        )

    async def _act(self, action: Callable[[], None]) -> None:
        try:
            await asyncio.wait_for(asyncio.to_thread(action), WAIT_S)
        finally:
            self.phone._poke()


@contextlib.asynccontextmanager
async def running(
    core: OperatorCore, number: str, password: str, *, answers: bool = True
) -> AsyncIterator[PyVoipPhone]:
    """A started phone (REGISTERED or FAILED), stopped on the way out whatever happens."""
    phone = await PyVoipPhone.start(core, number, password, answers=answers)
    try:
        yield phone
    finally:
        await phone.stop()


class CoreInbox:
    """The requests an operator core takes in, as its SIP stack hands them up, awaitable.

    New requests, and ACKs to the core's 2xx (which the transaction layer passes up too).
    """

    def __init__(self, core: OperatorCore) -> None:
        self.requests: list[tuple[Request, Peer]] = []
        self._arrived = asyncio.Event()
        handle = core.stack.on_request

        def observed(request: Request, peer: Peer, transaction: ServerTransaction | None) -> None:
            self.requests.append((request, peer))
            self._arrived.set()
            handle(request, peer, transaction)

        core.stack.on_request = observed

    def of(self, method: str, call_id: str | None = None) -> list[Request]:
        return [
            request
            for request, _ in self.requests
            if request.method == method
            and (call_id is None or request.headers.get("Call-ID") == call_id)
        ]

    async def wait_for(self, method: str, call_id: str | None = None) -> Request:
        """The first `method` request (of the dialog `call_id`), now or once it comes."""
        try:
            async with asyncio.timeout(WAIT_S):
                while not (found := self.of(method, call_id)):
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"the core got no {method} in {WAIT_S} s") from None
        return found[0]
