"""A SIP element's I/O: its listening point, its transaction layer and their timers on the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from emulator.sip.message import Request, Response
from emulator.sip.pcap import PcapTap
from emulator.sip.peer import Peer, Transport
from emulator.sip.transaction import (
    ClientTransaction,
    Deliver,
    Send,
    ServerTransaction,
    TimedOut,
    Transactions,
)
from emulator.sip.transport import FloodGuard, SipEndpoint
from profiles.clock import Clock, Timer


class TransactionUser(Protocol):
    """What a client transaction's `context` is: told of responses and of the timeout."""

    def on_response(self, response: Response) -> None: ...
    def on_timeout(self) -> None: ...


#: Called for each request the transaction layer hands up: a new request (with its server
#: transaction), or an ACK to a 2xx (transaction None).
RequestHandler = Callable[[Request, Peer, ServerTransaction | None], None]


class SipStack:
    """Glue between the I/O-free transaction layer and an asyncio listening point.

    Incoming messages go through the transactions; responses reach the `context` of their
    client transaction (a `TransactionUser`), new requests reach `on_request`. One clock
    timer stays armed at the transactions' next deadline, so a simulated clock drives the
    retransmissions and timeouts as well as a real one.
    """

    def __init__(self, clock: Clock, on_request: RequestHandler) -> None:
        self.clock = clock
        self.on_request = on_request
        self.transactions = Transactions()
        self._endpoint: SipEndpoint | None = None
        self._timer: Timer | None = None
        self._timer_at: float | None = None
        #: Told when a server transaction times out (e.g. a 2xx never ACKed).
        self.on_server_timeout: Callable[[ServerTransaction], None] | None = None
        #: Hosts whose messages are ignored, as if the network to them were down (a fault).
        self.unreachable: set[str] = set()

    async def open(
        self,
        host: str,
        port: int = 0,
        *,
        tcp: bool = True,
        guard: FloodGuard | None = None,
        tap: PcapTap | None = None,
    ) -> None:
        self._endpoint = await SipEndpoint.open(
            self._on_message, host=host, port=port, tcp=tcp, guard=guard, tap=tap
        )

    @property
    def is_open(self) -> bool:
        return self._endpoint is not None

    @property
    def endpoint(self) -> SipEndpoint:
        if self._endpoint is None:
            raise RuntimeError("the SIP stack is not open")
        return self._endpoint

    @property
    def host(self) -> str:
        return self.endpoint.host

    @property
    def port(self) -> int:
        return self.endpoint.port

    def via(self, transport: Transport, branch: str) -> str:
        return self.endpoint.via(transport, branch)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._endpoint is not None:
            await self._endpoint.close()

    # -- sending ------------------------------------------------------------------------------

    def send_request(
        self, request: Request, peer: Peer, context: TransactionUser | None
    ) -> ClientTransaction:
        transaction, actions = self.transactions.send_request(request, peer, self.clock.monotonic())
        transaction.context = context
        self._run(actions)
        self._arm()
        return transaction

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Send outside any transaction (an ACK to a 2xx)."""
        self.endpoint.send(message, peer)

    def respond(self, transaction: ServerTransaction, response: Response) -> None:
        self._run(self.transactions.respond(transaction, response, self.clock.monotonic()))
        self._arm()

    # -- receiving and timers ---------------------------------------------------------------

    def _on_message(self, message: Request | Response, peer: Peer) -> None:
        if peer.host in self.unreachable:
            return
        now = self.clock.monotonic()
        if isinstance(message, Response):
            _, actions = self.transactions.receive_response(message, now)
            self._run(actions)
        else:
            incoming = self.transactions.receive_request(message, peer, now)
            self._run(incoming.actions)
            if incoming.new:
                self.on_request(message, peer, incoming.transaction)
        self._arm()

    def _run(self, actions: Iterable[Send | Deliver | TimedOut]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.endpoint.send(action.message, action.peer)
                continue
            transaction = action.transaction
            user = transaction.context
            if isinstance(action, Deliver):
                if user is not None:
                    user.on_response(action.response)  # type: ignore[attr-defined]
            elif isinstance(transaction, ServerTransaction):
                if self.on_server_timeout is not None:
                    self.on_server_timeout(transaction)
            elif user is not None:
                user.on_timeout()  # type: ignore[attr-defined]

    def _arm(self) -> None:
        deadline = self.transactions.next_deadline()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.clock.call_later(deadline - self.clock.monotonic(), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self._run(self.transactions.expire(self.clock.monotonic()))
        self._arm()
