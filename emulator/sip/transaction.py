"""SIP transactions (RFC 3261 section 17, RFC 6026) as I/O-free state machines driven by time."""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import Final, TypeAlias

from emulator.sip.compose import BRANCH_COOKIE
from emulator.sip.headers import SipParseError, SipUri, parse_cseq, parse_name_addr, parse_via
from emulator.sip.message import Headers, Request, Response
from emulator.sip.peer import Peer

__all__ = [
    "DEFAULT_TIMERS",
    "Action",
    "ClientTransaction",
    "Deliver",
    "Incoming",
    "Send",
    "ServerTransaction",
    "State",
    "TimedOut",
    "Timers",
    "TransactionError",
    "Transactions",
    "build_ack",
    "build_cancel",
]


class TransactionError(ValueError):
    """A request or response the transaction layer cannot take; the message says why."""


@dataclass(frozen=True, slots=True)
class Timers:
    """Timer values in seconds: RFC 3261 table 4 defaults.

    `d` is Timer D on unreliable transports (table 4: at least 32 s). `c` bounds the wait
    for a final response once an INVITE got a provisional one (Timer C of RFC 3261 16.6,
    more than 3 minutes, restarted by every provisional): without it a peer that rings
    forever would keep its client transaction forever.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0
    c: float = 180.0

    def __post_init__(self) -> None:
        if not self.t1 > 0:
            raise ValueError(f"Timers t1 must be more than 0 seconds, got {self.t1}")
        if not self.t2 >= self.t1:
            raise ValueError(f"Timers t2 ({self.t2}) must be at least t1 ({self.t1})")
        if not self.t4 >= 0:
            raise ValueError(f"Timers t4 must be 0 seconds or more, got {self.t4}")
        if not self.d >= 0:
            raise ValueError(f"Timers d must be 0 seconds or more, got {self.d}")
        if not self.c > 0:
            raise ValueError(f"Timers c must be more than 0 seconds, got {self.c}")


DEFAULT_TIMERS: Final = Timers()


class State(enum.Enum):
    """The states of the four machines (RFC 3261 figures 5 to 8, ACCEPTED from RFC 6026)."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


CALLING: Final = State.CALLING
TRYING: Final = State.TRYING
PROCEEDING: Final = State.PROCEEDING
COMPLETED: Final = State.COMPLETED
CONFIRMED: Final = State.CONFIRMED
ACCEPTED: Final = State.ACCEPTED
TERMINATED: Final = State.TERMINATED


@dataclass(frozen=True, slots=True)
class Send:
    """Transmit this message to this peer."""

    message: Request | Response
    peer: Peer


@dataclass(frozen=True, slots=True)
class Deliver:
    """Pass this response to the transaction user of the client transaction."""

    transaction: ClientTransaction
    response: Response


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction failed: Timer B, C or F at a client (the TU treats it as a 408),
    Timer H at a server (no ACK for a non-2xx final), or Timer L with the 2xx never ACKed."""

    transaction: ClientTransaction | ServerTransaction


Action: TypeAlias = Send | Deliver | TimedOut


class _Timed:
    """What every transaction has: its request, its peer, its state, and two timer slots.

    The slots are one retransmission timer and one that ends a state. A slot holds the
    sequence number of its heap entry (0 when unarmed); a heap entry whose number no slot
    holds any more is stale and skipped (lazy deletion).
    """

    __slots__ = (
        "_end_at",
        "_end_seq",
        "_interval",
        "_invite",
        "_reliable",
        "_retransmit_seq",
        "context",
        "method",
        "peer",
        "request",
        "state",
    )

    request: Request
    peer: Peer
    state: State
    method: str
    context: object
    """Free for the transaction user, e.g. its call leg."""
    _end_at: float
    _end_seq: int
    _interval: float
    _invite: bool
    _reliable: bool
    _retransmit_seq: int

    def __init__(self, request: Request, peer: Peer, state: State) -> None:
        self.request = request
        self.peer = peer
        self.state = state
        self.method = request.method
        self.context = None
        self._invite = request.method == "INVITE"
        self._reliable = peer.reliable
        self._retransmit_seq = 0
        self._end_seq = 0
        self._end_at = float("inf")
        self._interval = 0.0


class ClientTransaction(_Timed):
    """A request this element sent and the responses it gets (made by Transactions)."""

    __slots__ = ("_ack", "_cancel_deadline", "_key", "branch")

    branch: str
    _ack: Request | None
    _cancel_deadline: float
    _key: tuple[str, str]

    def __init__(self, request: Request, peer: Peer, branch: str, state: State) -> None:
        super().__init__(request, peer, state)
        self.branch = branch
        self._ack = None
        self._cancel_deadline = float("inf")
        self._key = (branch, request.method)

    def __repr__(self) -> str:
        return f"<ClientTransaction {self.method} {self.branch} to {self.peer} {self.state.value}>"


class ServerTransaction(_Timed):
    """A request this element received and the responses its TU gives (made by Transactions)."""

    __slots__ = ("_acked", "_dialog_key", "_key", "last_response")

    last_response: Response | None
    _acked: bool
    _dialog_key: tuple[str, int, str | None] | None
    _key: tuple[object, ...]

    def __init__(self, request: Request, peer: Peer, key: tuple[object, ...], state: State) -> None:
        super().__init__(request, peer, state)
        self.last_response = None
        self._acked = False
        self._dialog_key = None
        self._key = key

    def __repr__(self) -> str:
        return f"<ServerTransaction {self.method} from {self.peer} {self.state.value}>"


@dataclass(frozen=True, slots=True)
class Incoming:
    """What became of a received request.

    `transaction` is None for an ACK that no transaction absorbed (an ACK to a 2xx that
    matched no accepted INVITE). `actions` are e.g. the retransmitted last response.
    `new` says the TU must handle the request: a new transaction, or an ACK to a 2xx.
    """

    transaction: ServerTransaction | None
    actions: list[Action]
    new: bool


# Heap entries: (deadline, sequence number, transaction). Sequence numbers are unique, so
# comparisons never reach the transaction, and ties fire in the order they were armed.
_Entry: TypeAlias = tuple[float, int, _Timed]

# Stale entries may exceed the live ones by this many before the heap is rebuilt; the
# slack keeps rebuilding rare on a small table.
_COMPACT_SLACK: Final = 1024


class Transactions:
    """The transaction layer of one SIP element: creates, matches, times and forgets transactions.

    Every call takes `now`, seconds on the clock's monotonic scale, and returns the
    actions the I/O layer must perform.
    """

    __slots__ = (
        "_accepted",
        "_c",
        "_clients",
        "_d",
        "_heap",
        "_live_timers",
        "_long",
        "_seq",
        "_servers",
        "_t1",
        "_t2",
        "_t4",
        "timers",
    )

    def __init__(self, timers: Timers = DEFAULT_TIMERS) -> None:
        self.timers = timers
        self._t1 = timers.t1
        self._t2 = timers.t2
        self._t4 = timers.t4
        self._d = timers.d
        self._c = timers.c
        self._long = 64 * timers.t1  # Timers B, F, H, J, L and M
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[tuple[object, ...], ServerTransaction] = {}
        # Accepted INVITE server transactions by Call-ID, CSeq number and From tag, for
        # ACKs to a 2xx, which carry a branch of their own.
        self._accepted: dict[tuple[str, int, str | None], ServerTransaction] = {}
        self._heap: list[_Entry] = []
        self._live_timers = 0
        self._seq = 0

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    # --- client side --------------------------------------------------------------------

    def send_request(
        self, request: Request, peer: Peer, now: float
    ) -> tuple[ClientTransaction, list[Action]]:
        """Start a client transaction for `request` (anything but ACK) sent to `peer`.

        The request's top Via needs a branch starting with z9hG4bK, unique to it. Sending
        a CANCEL bounds the wait for the final response to the INVITE it cancels (same
        branch) to 64*T1 (RFC 3261 9.1).
        """
        method = request.method
        if method == "ACK":
            raise TransactionError(
                "an ACK is never sent in a client transaction (RFC 3261 17): send it directly"
            )
        headers = request.headers
        top = headers.get("Via")
        if top is None:
            raise TransactionError(
                f"{method} request has no Via header: a client transaction needs a top Via"
                f" with a branch starting with {BRANCH_COOKIE!r}"
            )
        branch = parse_via(top).branch
        if branch is None or not branch.startswith(BRANCH_COOKIE):
            raise TransactionError(
                f"{method} request has branch {branch!r} in its top Via: a client transaction"
                f" needs one starting with {BRANCH_COOKIE!r} (RFC 3261 8.1.1.7)"
            )
        cseq = headers.get("CSeq")
        if cseq is None:
            raise TransactionError(f"{method} request has no CSeq header")
        cseq_method = parse_cseq(cseq).method
        if cseq_method != method:
            raise TransactionError(
                f"{method} request has CSeq method {cseq_method}: responses would never match it"
            )
        if method == "INVITE":
            for name in ("From", "To", "Call-ID"):
                if name not in headers:
                    raise TransactionError(
                        f"INVITE request has no {name} header, which its ACK and CANCEL copy"
                    )
        if (branch, method) in self._clients:
            raise TransactionError(
                f"branch {branch!r} already belongs to a live {method} client transaction:"
                " every new request needs a new branch"
            )
        reliable = peer.reliable
        t1 = self._t1
        if method == "INVITE":
            tx = ClientTransaction(request, peer, branch, CALLING)
            if not reliable:
                self._arm_retransmit(tx, now + t1, t1)  # Timer A
            self._arm_end(tx, now + self._long)  # Timer B
        else:
            tx = ClientTransaction(request, peer, branch, TRYING)
            if not reliable:
                self._arm_retransmit(tx, now + t1, t1)  # Timer E
            self._arm_end(tx, now + self._long)  # Timer F
            if method == "CANCEL":
                self._bound_cancelled(branch, now)
        self._clients[tx._key] = tx
        return tx, [Send(request, peer)]

    def _bound_cancelled(self, branch: str, now: float) -> None:
        invite = self._clients.get((branch, "INVITE"))
        if invite is None:
            return
        bound = now + self._long
        if bound < invite._cancel_deadline:
            invite._cancel_deadline = bound
        if invite.state is PROCEEDING and invite._end_at > bound:
            self._arm_end(invite, bound)

    def receive_response(
        self, response: Response, now: float
    ) -> tuple[ClientTransaction | None, list[Action]]:
        """Match a response to its client transaction (RFC 3261 17.1.3) and run it.

        Returns (None, []) for a response that matches no live transaction (a stray 2xx
        is then the TU's to handle, RFC 6026 7.2) or that is too broken to match.
        """
        headers = response.headers
        top = headers.get("Via")
        cseq = headers.get("CSeq")
        if top is None or cseq is None:
            return None, []
        try:
            branch = parse_via(top).branch
            method = parse_cseq(cseq).method
        except SipParseError:
            return None, []
        if branch is None:
            return None, []
        tx = self._clients.get((branch, method))
        if tx is None:
            return None, []
        if tx._invite:
            return tx, self._invite_client_receives(tx, response, now)
        return tx, self._client_receives(tx, response, now)

    def _invite_client_receives(
        self, tx: ClientTransaction, response: Response, now: float
    ) -> list[Action]:
        state = tx.state
        status = response.status
        waiting = state is CALLING or state is PROCEEDING
        if status < 200:
            if not waiting:
                return []
            if state is CALLING:
                self._disarm_retransmit(tx)
                tx.state = PROCEEDING
            # Timer C restarts with every provisional (RFC 3261 16.7 step 2), but never
            # beyond the bound a CANCEL set.
            end = now + self._c
            self._arm_end(tx, end if end < tx._cancel_deadline else tx._cancel_deadline)
            return [Deliver(tx, response)]
        if status < 300:
            if waiting:
                self._disarm_retransmit(tx)
                tx.state = ACCEPTED
                self._arm_end(tx, now + self._long)  # Timer M
                return [Deliver(tx, response)]
            # RFC 6026 7.2: retransmitted or forked 2xx go up so that the TU ACKs them.
            return [Deliver(tx, response)] if state is ACCEPTED else []
        if waiting:
            self._disarm_retransmit(tx)
            ack = build_ack(tx.request, response)
            tx._ack = ack
            tx.state = COMPLETED
            actions: list[Action] = [Send(ack, tx.peer), Deliver(tx, response)]
            if tx._reliable or self._d == 0:
                self._terminate_client(tx)
            else:
                self._arm_end(tx, now + self._d)  # Timer D
            return actions
        if state is COMPLETED and tx._ack is not None:
            return [Send(tx._ack, tx.peer)]
        return []

    def _client_receives(
        self, tx: ClientTransaction, response: Response, now: float
    ) -> list[Action]:
        state = tx.state
        if state is not TRYING and state is not PROCEEDING:
            return []  # Completed absorbs retransmitted finals
        if response.status < 200:
            tx.state = PROCEEDING
            return [Deliver(tx, response)]
        self._disarm_retransmit(tx)
        tx.state = COMPLETED
        if tx._reliable or self._t4 == 0:
            self._terminate_client(tx)
        else:
            self._arm_end(tx, now + self._t4)  # Timer K
        return [Deliver(tx, response)]

    # --- server side --------------------------------------------------------------------

    def receive_request(self, request: Request, peer: Peer, now: float) -> Incoming:
        """Match a request to its server transaction (RFC 3261 17.2.3) or start a new one.

        Raises TransactionError for a request without a Via, SipParseError (a ValueError
        too) for a top Via that does not parse: the transport drops those. Anything else
        gets a transaction, even without the headers check_request wants, so that the TU
        can answer it.
        """
        method = request.method
        top = request.headers.get("Via")
        if top is None:
            raise TransactionError(
                f"{method} request has no Via header: it cannot be matched to a transaction"
            )
        via = parse_via(top)
        branch = via.branch
        if method == "ACK":
            return self._receive_ack(request, branch, via.sent_by, top, now)
        key: tuple[object, ...]
        if branch is not None and branch.startswith(BRANCH_COOKIE):
            key = (branch, via.sent_by, method)
        else:
            key = _rfc2543_key(request, top, method)
        tx = self._servers.get(key)
        if tx is None:
            tx = ServerTransaction(request, peer, key, PROCEEDING if method == "INVITE" else TRYING)
            self._servers[key] = tx
            return Incoming(tx, [], True)
        last = tx.last_response
        if last is None or tx.state is CONFIRMED:
            return Incoming(tx, [], False)
        return Incoming(tx, [Send(last, tx.peer)], False)

    def _receive_ack(
        self, ack: Request, branch: str | None, sent_by: str, top: str, now: float
    ) -> Incoming:
        tx: ServerTransaction | None
        if branch is not None and branch.startswith(BRANCH_COOKIE):
            tx = self._servers.get((branch, sent_by, "INVITE"))
        else:
            tx = self._rfc2543_ack_match(ack, top)
        if tx is not None:
            state = tx.state
            if state is COMPLETED:
                self._disarm_retransmit(tx)
                tx.state = CONFIRMED
                if tx._reliable or self._t4 == 0:
                    self._terminate_server(tx)
                else:
                    self._arm_end(tx, now + self._t4)  # Timer I
                return Incoming(tx, [], False)
            if state is CONFIRMED:
                return Incoming(tx, [], False)
            if state is ACCEPTED:
                # pyVoIP acknowledges a 2xx with the INVITE's own branch.
                return self._acknowledge_2xx(tx)
        if self._accepted:
            key = _dialog_key(ack.headers)
            accepted = None if key is None else self._accepted.get(key)
            if accepted is not None:
                return self._acknowledge_2xx(accepted)
        return Incoming(None, [], True)

    def _rfc2543_ack_match(self, ack: Request, top: str) -> ServerTransaction | None:
        uri, ack_tag, from_tag, call_id, seq, method, _ = _rfc2543_key(ack, top, "INVITE")
        # The ACK carries the To tag of the final response, which the INVITE lacked
        # unless it was sent inside a dialog.
        tx = self._servers.get((uri, None, from_tag, call_id, seq, method, top))
        last = None if tx is None else tx.last_response
        if last is not None and _loose_tag(last.headers.get("To")) == ack_tag:
            return tx
        if ack_tag is None:
            return None
        return self._servers.get((uri, ack_tag, from_tag, call_id, seq, method, top))

    def _acknowledge_2xx(self, tx: ServerTransaction) -> Incoming:
        if not tx._acked:
            tx._acked = True
            self._disarm_retransmit(tx)
        return Incoming(tx, [], True)

    def respond(
        self, transaction: ServerTransaction, response: Response, now: float
    ) -> list[Action]:
        """Send the TU's response through its server transaction.

        Raises TransactionError for a status outside 100-699, a response after a final
        one (except more 2xx after a 2xx, RFC 6026 8.1) or on a terminated transaction.
        """
        tx = transaction
        status = response.status
        state = tx.state
        if not 100 <= status <= 699:
            raise TransactionError(f"status {status} is not from 100 to 699")
        if state is TERMINATED:
            raise TransactionError(
                f"the {tx.method} server transaction is terminated: it cannot send a {status}"
            )
        if tx._invite:
            if state is PROCEEDING:
                tx.last_response = response
                if status >= 300:
                    tx.state = COMPLETED
                    if not tx._reliable:
                        self._arm_retransmit(tx, now + self._t1, self._t1)  # Timer G
                    self._arm_end(tx, now + self._long)  # Timer H
                elif status >= 200:
                    self._accept(tx, now)
                return [Send(response, tx.peer)]
            if state is ACCEPTED and 200 <= status < 300:
                tx.last_response = response
                return [Send(response, tx.peer)]
        elif state is TRYING or state is PROCEEDING:
            tx.last_response = response
            if status < 200:
                tx.state = PROCEEDING
            elif tx._reliable:
                tx.state = COMPLETED
                self._terminate_server(tx)
            else:
                tx.state = COMPLETED
                self._arm_end(tx, now + self._long)  # Timer J
            return [Send(response, tx.peer)]
        sent = tx.last_response.status if tx.last_response is not None else "a final response"
        raise TransactionError(
            f"the {tx.method} server transaction already sent {sent}: it cannot send a {status}"
        )

    def _accept(self, tx: ServerTransaction, now: float) -> None:
        tx.state = ACCEPTED
        if not tx._reliable:
            # RFC 3261 13.3.1.4: the 2xx is sent again until its ACK comes; this layer
            # does it for the TU.
            self._arm_retransmit(tx, now + self._t1, self._t1)
        self._arm_end(tx, now + self._long)  # Timer L
        key = _dialog_key(tx.request.headers)
        if key is not None:
            tx._dialog_key = key
            self._accepted[key] = tx

    def invite_for_cancel(self, cancel: Request) -> ServerTransaction | None:
        """The live INVITE server transaction a CANCEL cancels (RFC 3261 9.2), if any."""
        top = cancel.headers.get("Via")
        if top is None:
            return None
        via = parse_via(top)
        branch = via.branch
        if branch is not None and branch.startswith(BRANCH_COOKIE):
            return self._servers.get((branch, via.sent_by, "INVITE"))
        return self._servers.get(_rfc2543_key(cancel, top, "INVITE"))

    # --- timers -------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest pending timer, None when no timer is pending."""
        heap = self._heap
        while heap:
            at, seq, tx = heap[0]
            if tx._retransmit_seq == seq or tx._end_seq == seq:
                return at
            heappop(heap)
        return None

    def expire(self, now: float) -> list[Action]:
        """Fire every timer due at `now`, in deadline order, with the timers they arm."""
        actions: list[Action] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, seq, tx = heappop(heap)
            if tx._retransmit_seq == seq:
                tx._retransmit_seq = 0
                self._live_timers -= 1
                self._retransmit(tx, at, actions)
            elif tx._end_seq == seq:
                tx._end_seq = 0
                tx._end_at = float("inf")
                self._live_timers -= 1
                self._end(tx, actions)
        return actions

    def _retransmit(self, tx: _Timed, at: float, actions: list[Action]) -> None:
        # Rearmed from the deadline, not from `now`: a late call replays the schedule.
        if isinstance(tx, ClientTransaction):
            actions.append(Send(tx.request, tx.peer))
            if tx._invite:
                interval = 2 * tx._interval  # Timer A
            elif tx.state is PROCEEDING:
                interval = self._t2  # Timer E once a provisional came
            else:
                interval = min(2 * tx._interval, self._t2)  # Timer E
        elif isinstance(tx, ServerTransaction) and tx.last_response is not None:
            actions.append(Send(tx.last_response, tx.peer))
            interval = min(2 * tx._interval, self._t2)  # Timer G, or the 2xx of 13.3.1.4
        else:  # unreachable: a server transaction retransmits only a response it sent
            return
        self._arm_retransmit(tx, at + interval, interval)

    def _end(self, tx: _Timed, actions: list[Action]) -> None:
        state: State
        if isinstance(tx, ClientTransaction):
            state = tx.state
            # B, C and F fail the transaction; D, K and M only end it.
            if state is CALLING or state is TRYING or state is PROCEEDING:
                actions.append(TimedOut(tx))
            self._terminate_client(tx)
        elif isinstance(tx, ServerTransaction):
            state = tx.state
            # H (no ACK to a non-2xx) and L with the 2xx never ACKed fail; I and J end.
            if (state is COMPLETED and tx._invite) or (state is ACCEPTED and not tx._acked):
                actions.append(TimedOut(tx))
            self._terminate_server(tx)

    def _arm_retransmit(self, tx: _Timed, at: float, interval: float) -> None:
        if not tx._retransmit_seq:
            self._live_timers += 1
        self._seq += 1
        tx._retransmit_seq = self._seq
        tx._interval = interval
        self._push((at, self._seq, tx))

    def _arm_end(self, tx: _Timed, at: float) -> None:
        if not tx._end_seq:
            self._live_timers += 1
        self._seq += 1
        tx._end_seq = self._seq
        tx._end_at = at
        self._push((at, self._seq, tx))

    def _disarm_retransmit(self, tx: _Timed) -> None:
        if tx._retransmit_seq:
            tx._retransmit_seq = 0
            self._live_timers -= 1

    def _disarm_end(self, tx: _Timed) -> None:
        if tx._end_seq:
            tx._end_seq = 0
            tx._end_at = float("inf")
            self._live_timers -= 1

    def _push(self, entry: _Entry) -> None:
        heap = self._heap
        heappush(heap, entry)
        if len(heap) > 2 * self._live_timers + _COMPACT_SLACK:
            # Stale entries hold finished transactions and their messages in memory until
            # their deadline; drop them in place (expire may be iterating this list).
            heap[:] = [
                item
                for item in heap
                if item[2]._retransmit_seq == item[1] or item[2]._end_seq == item[1]
            ]
            heapify(heap)

    def _terminate_client(self, tx: ClientTransaction) -> None:
        self._disarm_retransmit(tx)
        self._disarm_end(tx)
        tx.state = TERMINATED
        if self._clients.get(tx._key) is tx:
            del self._clients[tx._key]

    def _terminate_server(self, tx: ServerTransaction) -> None:
        self._disarm_retransmit(tx)
        self._disarm_end(tx)
        tx.state = TERMINATED
        if self._servers.get(tx._key) is tx:
            del self._servers[tx._key]
        key = tx._dialog_key
        if key is not None and self._accepted.get(key) is tx:
            del self._accepted[key]


def _tag(value: str | None) -> str | None:
    return None if value is None else parse_name_addr(value).tag


def _dialog_key(headers: Headers) -> tuple[str, int, str | None] | None:
    """Call-ID, CSeq number and From tag: what ties an ACK to the 2xx it acknowledges.

    The To tag is left out on purpose: pyVoIP puts a fresh random To tag in its ACKs.
    """
    call_id = headers.get("Call-ID")
    cseq = headers.get("CSeq")
    from_ = headers.get("From")
    if call_id is None or cseq is None or from_ is None:
        return None
    try:
        return (call_id, parse_cseq(cseq).seq, parse_name_addr(from_).tag)
    except SipParseError:
        return None


_Rfc2543Key: TypeAlias = tuple[SipUri, str | None, str | None, str | None, object, str, str]


def _rfc2543_key(request: Request, top: str, method: str) -> _Rfc2543Key:
    """RFC 3261 17.2.3's fallback for requests without a z9hG4bK branch: Request-URI, To
    tag, From tag, Call-ID, CSeq number, method (INVITE for an ACK) and top Via.

    A missing or malformed header still makes a key, so that the request reaches the TU,
    whose check_request answers it with a 400.
    """
    headers = request.headers
    cseq = headers.get("CSeq")
    number: object = cseq
    if cseq is not None:
        with contextlib.suppress(SipParseError):
            number = parse_cseq(cseq).seq
    return (
        request.uri,
        _loose_tag(headers.get("To")),
        _loose_tag(headers.get("From")),
        headers.get("Call-ID"),
        number,
        method,
        top,
    )


def _loose_tag(value: str | None) -> str | None:
    """The tag of a To or From value; the whole value when it does not parse."""
    try:
        return _tag(value)
    except SipParseError:
        return value


def _required(headers: Headers, name: str, what: str) -> str:
    value = headers.get(name)
    if value is None:
        raise TransactionError(f"the INVITE has no {name} header, which its {what} copies")
    return value


def _copied_fields(invite: Request, what: str) -> list[tuple[str, str]]:
    """The single top Via, Max-Forwards and the Route set an ACK or CANCEL copies."""
    if invite.method != "INVITE":
        raise TransactionError(f"{what} is built for an INVITE, not for a {invite.method}")
    headers = invite.headers
    fields = [("Via", _required(headers, "Via", what))]
    max_forwards = headers.get("Max-Forwards")
    if max_forwards is not None:
        fields.append(("Max-Forwards", max_forwards))
    fields.extend(("Route", route) for route in headers.get_all("Route"))
    return fields


def build_ack(invite: Request, response: Response) -> Request:
    """The ACK of a 300-699 final response to `invite` (RFC 3261 17.1.1.3).

    An ACK for a 2xx belongs to the dialog (RFC 3261 13.2.2.4) and is refused here.
    """
    if response.status < 300:
        raise TransactionError(
            f"a {response.status} is not acknowledged by the transaction: the ACK of a 2xx is"
            " built by the dialog (RFC 3261 13.2.2.4)"
        )
    fields = _copied_fields(invite, "ACK")
    headers = invite.headers
    cseq = parse_cseq(_required(headers, "CSeq", "ACK"))
    fields += [
        ("From", _required(headers, "From", "ACK")),
        ("To", response.headers.get("To") or _required(headers, "To", "ACK")),
        ("Call-ID", _required(headers, "Call-ID", "ACK")),
        ("CSeq", f"{cseq.seq} ACK"),
    ]
    return Request("ACK", invite.uri, Headers(fields))


def build_cancel(invite: Request) -> Request:
    """The CANCEL of a pending INVITE (RFC 3261 9.1): same branch, URI, tags and CSeq number."""
    fields = _copied_fields(invite, "CANCEL")
    headers = invite.headers
    cseq = parse_cseq(_required(headers, "CSeq", "CANCEL"))
    fields += [
        ("From", _required(headers, "From", "CANCEL")),
        ("To", _required(headers, "To", "CANCEL")),
        ("Call-ID", _required(headers, "Call-ID", "CANCEL")),
        ("CSeq", f"{cseq.seq} CANCEL"),
    ]
    return Request("CANCEL", invite.uri, Headers(fields))
