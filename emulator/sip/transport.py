"""The SIP listening point on asyncio: one UDP socket and one TCP listener on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from emulator.sip.compose import new_branch, new_tag, response_to
from emulator.sip.message import (
    MAX_TCP_MESSAGE,
    MAX_UDP_MESSAGE,
    Headers,
    Request,
    Response,
    SipParseError,
    Via,
    parse,
    parse_via,
    serialize,
    split_stream,
)
from emulator.sip.peer import Peer, Transport
from profiles.clock import Clock

if TYPE_CHECKING:
    from emulator.sip.pcap import PcapTap

__all__ = [
    "CONNECT_TIMEOUT",
    "UDP_SIZE_BUDGET",
    "FloodGuard",
    "Handler",
    "SipEndpoint",
    "TransportStats",
    "response_peer",
]

Handler = Callable[[Request | Response, Peer], None]
"""What an endpoint calls, in the event loop, for each good message with where it came from."""

UDP_SIZE_BUDGET: Final = 1300
"""RFC 3261 18.1.1: a request larger than this should go over TCP; the endpoint counts those
it still sends over UDP (loopback carries them)."""
CONNECT_TIMEOUT: Final = 10.0
"""Seconds an outgoing TCP connection may take before its queued messages are given up."""

_DEFAULT_PORT: Final = 5060
_BIND_ATTEMPTS: Final = 8
# The default UDP receive buffer (~200 KiB) overflows under bursts of thousands of messages.
_UDP_RECEIVE_BUFFER: Final = 4 * 1024 * 1024
_CLOSE_GRACE: Final = 2.0
_WARNING_TEXT_LIMIT: Final = 200
_ANSWERABLE: Final = ("Via", "From", "To", "Call-ID", "CSeq")

_log = logging.getLogger(__name__)


# --- flood guard -----------------------------------------------------------------------


class FloodGuard:
    """Token bucket per source host, on an injected clock.

    Each host may send `burst` messages at once and `rate_per_s` a second after that. Memory
    is bounded: past `max_hosts` hosts, the least recently seen one is forgotten.
    """

    __slots__ = ("_buckets", "_burst", "_clock", "_max_hosts", "_rate", "throttled")

    throttled: int
    """Messages refused so far."""

    def __init__(
        self,
        clock: Clock,
        *,
        rate_per_s: float = 200.0,
        burst: int = 400,
        max_hosts: int = 4096,
    ) -> None:
        if not rate_per_s > 0 or rate_per_s == float("inf"):
            raise ValueError(f"flood guard rate_per_s must be a positive number, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"flood guard burst must be at least 1 message, got {burst}")
        if max_hosts < 1:
            raise ValueError(f"flood guard max_hosts must be at least 1, got {max_hosts}")
        self._clock = clock
        self._rate = float(rate_per_s)
        self._burst = float(burst)
        self._max_hosts = max_hosts
        # host -> [tokens left, monotonic time of the last refill]
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self.throttled = 0

    def allow(self, host: str) -> bool:
        """Whether a message from `host` may go on now; takes one token when it may."""
        now = self._clock.monotonic()
        buckets = self._buckets
        bucket = buckets.get(host)
        if bucket is None:
            if len(buckets) >= self._max_hosts:
                buckets.popitem(last=False)
            buckets[host] = [self._burst - 1.0, now]
            return True
        buckets.move_to_end(host)
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        self.throttled += 1
        return False


# --- counters --------------------------------------------------------------------------


@dataclass(slots=True)
class TransportStats:
    """What an endpoint has done so far, message by message."""

    received: int = 0
    """Datagrams and framed TCP messages that arrived (CRLF keep-alives aside)."""
    sent: int = 0
    """Messages handed to a socket, error answers included."""
    malformed: int = 0
    """Messages that did not parse, or requests whose top Via did not."""
    answered_400: int = 0
    """Error responses sent to broken requests (400, or 413/414/416/513 when the parser says)."""
    throttled: int = 0
    """Messages the flood guard refused."""
    dropped_responses: int = 0
    """Broken responses dropped: a response is never answered (RFC 3261 18.1.2)."""
    oversized: int = 0
    """Messages sent over UDP although larger than UDP_SIZE_BUDGET."""
    send_failed: int = 0
    """Messages that could not be sent: connection refused, unknown host, endpoint closed."""
    handler_errors: int = 0
    """Messages on which the handler raised."""


# --- where responses go ----------------------------------------------------------------


def response_peer(request: Request, source: Peer) -> Peer:
    """Where the response to `request`, received from `source`, goes (RFC 3261 18.2.2, RFC 3581).

    Over TCP, back over the connection it came on. Over UDP, with `rport` in the top Via, to
    the `received` (or source) host at the `rport` port; otherwise to the `maddr`, `received`
    or sent-by host, at the sent-by port or 5060. Raises ValueError when the request has no
    Via, or a top Via that does not parse.
    """
    if source.transport == "TCP":
        return source
    top = request.headers.get("Via")
    if top is None:
        raise ValueError(f"the {request.method} request has no Via header: nowhere to answer it")
    return _reply_peer(parse_via(top), source)


def _reply_peer(via: Via | None, source: Peer) -> Peer:
    if via is None or source.transport == "TCP":
        return source
    if via.wants_rport:
        # An rport flag still without a value (a request not stamped yet) means the source port.
        return Peer(_bare(via.received or source.host), via.rport or source.port)
    port = via.port or _DEFAULT_PORT
    maddr = via.maddr
    if maddr:
        return Peer(_bare(maddr), port)
    received = via.received
    if received:
        return Peer(_bare(received), port)
    return Peer(via.host, port)


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") else host


@functools.lru_cache(maxsize=4096)
def _family_of(host: str) -> socket.AddressFamily | None:
    """The address family of an IP literal, None for a host name."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


@functools.lru_cache(maxsize=4096)
def _same_address(one: str, other: str) -> bool:
    """Whether two host texts are the same IP address ('::1' and '0:0::1' are)."""
    try:
        return ipaddress.ip_address(one) == ipaddress.ip_address(other)
    except ValueError:
        return False


def _via_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- stamping the top Via (RFC 3261 18.2.1, RFC 3581 4) -----------------------------------


# The sent-protocol and sent-by of a Via, up to its parameters: enough to stamp it by editing
# the text, which keeps the value as the client wrote it and costs far less than rebuilding it.
_VIA_HEAD: Final = re.compile(
    r"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*[A-Za-z]+[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
    r"(?:[ \t]*:[ \t]*[0-9]+)?(?=[ \t]*(?:;|$))",
    re.IGNORECASE,
)
_RPORT: Final = re.compile(r";[ \t]*rport(?:[ \t]*=[ \t]*[0-9]*)?(?=[ \t]*(?:;|$))", re.IGNORECASE)
_RECEIVED: Final = re.compile(r";[ \t]*received[ \t]*=[ \t]*[^; \t]*", re.IGNORECASE)


def _stamped(headers: Headers, source: Peer) -> Headers:
    """`headers` with the top Via carrying received= and rport= as the server saw the source.

    Raises SipParseError when there is no Via or the top one does not parse.
    """
    fields = list(headers)
    # Headers spells every name canonically: no case folding needed.
    index = next((at for at, (name, _) in enumerate(fields) if name == "Via"), None)
    if index is None:
        raise SipParseError("the request has no Via header")
    value = fields[index][1]
    top = _stamped_via(value, source)
    if top is value:
        return headers
    fields[index] = ("Via", top)
    # A Via that parse_via accepted passes every check Headers() would repeat on each field.
    return Headers._trusted(fields)


def _stamped_via(value: str, source: Peer) -> str:
    """A top Via value stamped for `source`, or `value` itself when it needs nothing.

    The result is checked with parse_via, which also leaves it in parse_via's cache for the
    handler that reads it next. Raises SipParseError when `value` does not parse.
    """
    head = _VIA_HEAD.match(value)
    if head is None or '"' in value:
        return _rebuilt_via(value, source)
    host = head.group(1)
    params = value[head.end() :]
    rport = _RPORT.search(params)
    if rport is not None:
        params = f"{params[: rport.start()]};rport={source.port}{params[rport.end() :]}"
    if not _same_host(host[1:-1] if host.startswith("[") else host, source.host):
        ip = source.host.partition("%")[0]
        received = _RECEIVED.search(params)
        if received is None:
            params = f"{params};received={ip}"
        else:
            params = f"{params[: received.start()]};received={ip}{params[received.end() :]}"
    elif rport is None:
        parse_via(value)
        return value
    stamped = value[: head.end()] + params
    try:
        parse_via(stamped)
    except SipParseError:
        return _rebuilt_via(value, source)
    return stamped


def _rebuilt_via(value: str, source: Peer) -> str:
    """The slow way of `_stamped_via`, through parse_via and Via's own writing."""
    via = parse_via(value)
    same_host = _same_host(via.host, source.host)
    if same_host and not via.wants_rport:
        return value
    params: list[tuple[str, str | None]] = []
    for name, param in via.params:
        key = name.lower()
        if key == "rport":
            params.append((name, str(source.port)))
        elif key != "received" or same_host:
            params.append((name, param))
    if not same_host:
        params.append(("received", source.host.partition("%")[0]))
    return str(Via(via.protocol, via.transport, via.host, via.port, tuple(params)))


def _same_host(sent_by: str, source: str) -> bool:
    return sent_by == source or _same_address(sent_by, source)


def _warning(sent_by: str, detail: str) -> tuple[tuple[str, str], ...]:
    """A Warning header (RFC 3261 20.43, code 399) that tells the sender what is wrong."""
    text = "".join(char for char in detail[:_WARNING_TEXT_LIMIT] if char >= " " or char == "\t")
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return (("Warning", f'399 {sent_by} "{text}"'),)


# --- the protocols ---------------------------------------------------------------------


class _Datagrams(asyncio.DatagramProtocol):
    """The UDP socket's protocol: straight into the endpoint, no task per message."""

    __slots__ = ("_endpoint", "lost")

    def __init__(self, endpoint: SipEndpoint) -> None:
        self._endpoint = endpoint
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._endpoint._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors of earlier sendto calls (port unreachable...) land here.
        self._endpoint.stats.send_failed += 1
        _log.debug("UDP error on %s: %s", self._endpoint, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class _Stream(asyncio.Protocol):
    """One TCP connection, accepted or opened, framing messages with split_stream."""

    __slots__ = (
        "_buffer",
        "_endpoint",
        "_pending",
        "_transport",
        "addresses",
        "local",
        "lost",
        "remote",
    )

    def __init__(self, endpoint: SipEndpoint, remote: Peer | None = None) -> None:
        self._endpoint = endpoint
        # the peer addresses the endpoint finds this connection under
        self.addresses: list[tuple[str, int]] = []
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._pending: list[bytes] = []
        self.remote = remote
        self.local: Peer | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def closing(self) -> bool:
        return self.lost.done() or (self._transport is not None and self._transport.is_closing())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # asyncio sets this only for sockets it made itself; Nagle's wait on the peer's
            # delayed ACK would stall every burst of small SIP messages by ~40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer_name = transport.get_extra_info("peername")
        sock_name = transport.get_extra_info("sockname")
        remote = Peer(peer_name[0], peer_name[1], "TCP")
        self.local = Peer(sock_name[0], sock_name[1], "TCP")
        self._endpoint._adopt(self, remote, accepted=self.remote is None)
        self.remote = remote
        pending, self._pending = self._pending, []
        for data in pending:
            self.send(data)

    def send(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            self._pending.append(data)
            return
        endpoint = self._endpoint
        if transport.is_closing():
            endpoint.stats.send_failed += 1
            _log.debug("not sending to %s: its connection is closing", self.remote)
            return
        transport.write(data)
        endpoint.stats.sent += 1
        tap = endpoint._tap
        if tap is not None and self.local is not None and self.remote is not None:
            tap.record(data, self.local, self.remote, time.time())

    def data_received(self, data: bytes) -> None:
        endpoint = self._endpoint
        remote = self.remote
        assert remote is not None
        assert self._transport is not None
        tap = endpoint._tap
        if tap is not None and self.local is not None:
            tap.record(data, remote, self.local, time.time())
        buffer = self._buffer + data if self._buffer else data
        while buffer:
            try:
                message, buffer = split_stream(buffer)
            except SipParseError as error:
                # Without a Content-Length the stream cannot be resynchronised (RFC 3261 18.3).
                endpoint.stats.received += 1
                endpoint._refuse(error, buffer, remote)
                self._buffer = b""
                self._transport.close()
                return
            if message is None:
                break
            endpoint._receive(message, remote, MAX_TCP_MESSAGE)
            if self._transport.is_closing():
                return
        self._buffer = buffer

    def fail(self, error: BaseException) -> None:
        """The connection could not be opened: give up what waits for it."""
        self._endpoint.stats.send_failed += len(self._pending)
        _log.warning(
            "SIP over TCP to %s failed, %d message(s) dropped: %s",
            self.remote,
            len(self._pending),
            str(error) or type(error).__name__,
        )
        self._pending.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._buffer = b""
        self._endpoint._forget(self)
        if not self.lost.done():
            self.lost.set_result(None)


# --- the endpoint ----------------------------------------------------------------------


class SipEndpoint:
    """One SIP listening point: a UDP socket and a TCP listener on the same host and port."""

    __slots__ = (
        "_closed",
        "_datagrams",
        "_family",
        "_guard",
        "_handler",
        "_local_udp",
        "_server",
        "_streams",
        "_tap",
        "_tasks",
        "_udp",
        "_wired",
        "host",
        "port",
        "stats",
    )

    host: str
    """The bound address (an IP literal, even when opened with a host name)."""
    port: int
    """The bound port, shared by UDP and TCP."""
    stats: TransportStats

    _udp: asyncio.DatagramTransport
    _datagrams: _Datagrams
    _server: asyncio.Server | None

    def __init__(
        self,
        handler: Handler,
        *,
        host: str,
        port: int,
        family: socket.AddressFamily,
        guard: FloodGuard | None = None,
        tap: PcapTap | None = None,
    ) -> None:
        """Use `SipEndpoint.open`, which binds the sockets and then fills them in."""
        self._handler = handler
        self._family = family
        self._guard = guard
        self._tap = tap
        self.host = host
        self.port = port
        self.stats = TransportStats()
        self._local_udp = Peer(host, port, "UDP")
        self._server = None
        # peer address -> the connection to it, accepted or opened
        self._streams: dict[tuple[str, int], _Stream] = {}
        # every live connection, to close them all
        self._wired: set[_Stream] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tcp: bool = True,
        guard: FloodGuard | None = None,
        tap: PcapTap | None = None,
    ) -> SipEndpoint:
        """Bind UDP on `host`:`port`, then TCP on the same port (port 0: any free one).

        With port 0, a TCP port already taken makes it try again with a fresh UDP port.
        Raises ValueError for a port out of range, OSError when the address cannot be bound.
        """
        if not 0 <= port <= 65535:
            raise ValueError(f"SIP port must be from 0 to 65535, got {port}")
        loop = asyncio.get_running_loop()
        family, ip = _family_of(host), host
        if family is None:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            if not infos:
                raise OSError(f"SIP host {host!r} resolves to no address")
            family, ip = infos[0][0], str(infos[0][4][0])
        udp_socket, tcp_socket = _bind_pair(family, ip, port, tcp=tcp)
        bound = udp_socket.getsockname()
        endpoint = cls(handler, host=bound[0], port=bound[1], family=family, guard=guard, tap=tap)
        udp: asyncio.DatagramTransport | None = None
        try:
            datagrams = _Datagrams(endpoint)
            endpoint._datagrams = datagrams
            udp, _ = await loop.create_datagram_endpoint(lambda: datagrams, sock=udp_socket)
            endpoint._udp = udp
            if tcp_socket is not None:
                endpoint._server = await loop.create_server(
                    lambda: _Stream(endpoint), sock=tcp_socket
                )
        except BaseException:
            if udp is None:
                udp_socket.close()
            else:
                udp.close()
            if tcp_socket is not None:
                tcp_socket.close()
            raise
        return endpoint

    def __repr__(self) -> str:
        return f"SipEndpoint({_via_host(self.host)}:{self.port})"

    def via(self, transport: Transport = "UDP", branch: str | None = None) -> str:
        """The Via value of a request sent from here, e.g.
        'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK...;rport' (a fresh branch when None)."""
        return (
            f"SIP/2.0/{transport} {_via_host(self.host)}:{self.port}"
            f";branch={branch or new_branch()};rport"
        )

    # --- sending -----------------------------------------------------------------------

    def send(self, message: Request | Response, peer: Peer) -> None:
        """Send `message` to `peer`; never blocks, never raises for a peer that is gone.

        Over TCP it reuses the connection to or from that peer, else opens one and queues
        the message until it is up. Failures are logged and counted in `stats.send_failed`.
        Raises ValueError only for a message that cannot be written (see `serialize`).
        """
        data = serialize(message)
        if self._closed:
            self.stats.send_failed += 1
            _log.debug("%r is closed: not sending to %s", self, peer)
            return
        if peer.transport == "TCP":
            self._send_stream(data, peer)
        else:
            self._send_datagram(data, peer)

    def _send_datagram(self, data: bytes, peer: Peer) -> None:
        family = _family_of(peer.host)
        if family is None:
            # The lab never resolves names: it talks to the addresses that talk to it.
            self.stats.send_failed += 1
            _log.warning("%r does not send to %s: a host name, not an address", self, peer)
            return
        if family != self._family:
            self.stats.send_failed += 1
            _log.warning("%r cannot send over UDP to %s: other address family", self, peer)
            return
        if len(data) > UDP_SIZE_BUDGET:
            self.stats.oversized += 1
        self._udp.sendto(data, peer.address)
        self.stats.sent += 1
        if self._tap is not None:
            self._tap.record(data, self._local_udp, peer, time.time())

    def _send_stream(self, data: bytes, peer: Peer) -> None:
        stream = self._streams.get(peer.address)
        if stream is None or stream.closing:
            stream = _Stream(self, peer)
            self._index(stream, peer.address)
            self._spawn(self._connect(stream, peer))
        stream.send(data)

    async def _connect(self, stream: _Stream, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await loop.create_connection(
                    lambda: stream, peer.host, peer.port, local_addr=(self.host, 0)
                )
        except OSError as error:  # TimeoutError included
            self._forget(stream)
            stream.fail(error)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- receiving ---------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        source = Peer(addr[0], addr[1])
        if self._tap is not None:
            self._tap.record(data, source, self._local_udp, time.time())
        if len(data) <= 4 and not data.strip(b"\r\n"):
            return  # a CRLF keep-alive (RFC 5626 4.4.1 is for streams, but UAs send it on UDP)
        self._receive(data, source, MAX_UDP_MESSAGE)

    def receive_datagram(self, data: bytes, source: Peer) -> None:
        """Take `data` as if it had arrived over UDP from `source` (for fuzzing and replays:
        the same guard, parser, stamping and handler; answers go to `source`)."""
        self._receive(data, source, MAX_UDP_MESSAGE)

    def _receive(self, data: bytes, source: Peer, max_size: int) -> None:
        """One datagram or framed TCP message: guard, parse, stamp, hand over."""
        stats = self.stats
        stats.received += 1
        guard = self._guard
        if guard is not None and not guard.allow(source.host):
            stats.throttled += 1
            return
        try:
            message = parse(data, max_size=max_size)
        except SipParseError as error:
            self._refuse(error, data, source)
            return
        if type(message) is Request:
            try:
                headers = _stamped(message.headers, source)
            except SipParseError as error:
                self._refuse_request(message, error, source)
                return
            if headers is not message.headers:
                message = Request(
                    message.method, message.uri, headers, message.body, message.version
                )
        try:
            self._handler(message, source)
        except Exception:
            stats.handler_errors += 1
            _log.exception("the SIP handler of %r failed on a message from %s", self, source)

    def _refuse(self, error: SipParseError, data: bytes, source: Peer) -> None:
        """A message that does not parse: answer it when the parser says it can be answered."""
        self.stats.malformed += 1
        if error.respond_400 and error.headers is not None:
            _log.debug("answering %d to a broken request from %s: %s", error.status, source, error)
            self._answer_error(error.headers, error.status, str(error), source)
        else:
            if data.lstrip(b"\r\n")[:4].upper() == b"SIP/":
                self.stats.dropped_responses += 1
            _log.debug("dropping a broken message from %s: %s", source, error)

    def _refuse_request(self, request: Request, error: SipParseError, source: Peer) -> None:
        """A request whose top Via does not parse: answer it if it can be (never an ACK)."""
        self.stats.malformed += 1
        headers = request.headers
        if request.method != "ACK" and all(name in headers for name in _ANSWERABLE):
            self._answer_error(headers, 400, f"Via: {error}", source)
        else:
            _log.debug("dropping a request from %s: %s", source, error)

    def _answer_error(self, headers: Headers, status: int, detail: str, source: Peer) -> None:
        with contextlib.suppress(SipParseError):
            headers = _stamped(headers, source)
        sent_by = f"{_via_host(self.host)}:{self.port}"
        tag = new_tag()
        try:
            answer = response_to(headers, status, to_tag=tag, headers=_warning(sent_by, detail))
        except ValueError:
            answer = response_to(headers, status, to_tag=tag)
        self.stats.answered_400 += 1
        # To the packet's source, whatever its Via says: a broken request's Via is not to be
        # trusted, and the lab sends only to addresses that spoke to it.
        self.send(answer, source)

    # --- connections -------------------------------------------------------------------

    def _adopt(self, stream: _Stream, remote: Peer, *, accepted: bool) -> None:
        """A connection is up: index it by its peer so that responses go back over it."""
        self._wired.add(stream)
        if self._closed:
            stream.close()
            return
        if accepted or remote.address not in self._streams:
            self._index(stream, remote.address)

    def _index(self, stream: _Stream, address: tuple[str, int]) -> None:
        self._streams[address] = stream
        stream.addresses.append(address)

    def _forget(self, stream: _Stream) -> None:
        self._wired.discard(stream)
        for address in stream.addresses:
            if self._streams.get(address) is stream:
                del self._streams[address]
        stream.addresses.clear()

    # --- closing -----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the sockets and every TCP connection; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        self._udp.close()
        streams = list(self._wired)
        for stream in streams:
            stream.close()
        lost = [self._datagrams.lost, *(stream.lost for stream in streams)]
        _, stuck = await asyncio.wait(lost, timeout=_CLOSE_GRACE)
        if stuck:
            # A peer that does not read keeps a graceful close waiting on its send buffer.
            for stream in streams:
                stream.abort()
            await asyncio.wait(stuck)
        if self._server is not None:
            await self._server.wait_closed()
        self._streams.clear()


def _bind_pair(
    family: socket.AddressFamily, ip: str, port: int, *, tcp: bool
) -> tuple[socket.socket, socket.socket | None]:
    """A UDP socket and (when `tcp`) a TCP socket bound to the same address and port."""
    attempts = _BIND_ATTEMPTS if port == 0 else 1
    for attempt in range(1, attempts + 1):
        udp = _bound_socket(family, socket.SOCK_DGRAM, ip, port)
        if not tcp:
            return udp, None
        try:
            stream = _bound_socket(family, socket.SOCK_STREAM, ip, udp.getsockname()[1])
        except OSError:
            udp.close()
            if attempt == attempts:
                raise
            continue
        return udp, stream
    raise AssertionError("unreachable")


def _bound_socket(family: socket.AddressFamily, kind: int, ip: str, port: int) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            # One family per endpoint: no IPv4-mapped addresses on a wildcard IPv6 bind.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            # The kernel caps it at rmem_max; the default still works if it refuses.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_RECEIVE_BUFFER)
        sock.bind((ip, port))
        if kind == socket.SOCK_STREAM:
            # With SO_REUSEADDR a bind can succeed where listening then fails: fail here,
            # where _bind_pair can still try another port.
            sock.listen()
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
