"""The SIP listening point on loopback: UDP and TCP, rport and received, 400s, flood guard."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.sip import transport as sip_transport
from emulator.sip.compose import new_branch, new_call_id, new_tag, response_to
from emulator.sip.headers import parse_via
from emulator.sip.message import Headers, Request, Response, parse, parse_uri, split_stream
from emulator.sip.peer import Peer, Transport
from emulator.sip.transport import (
    UDP_SIZE_BUDGET,
    FloodGuard,
    Handler,
    SipEndpoint,
    TransportStats,
    response_peer,
)
from profiles.clock import SimulatedClock

# Only a safety net against a hang: every wait below ends on an event long before this.
TIMEOUT = 5.0


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


HOSTS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")),
]


class Inbox:
    """A handler that keeps what arrives, for a test to await in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Request | Response, Peer]] = asyncio.Queue()

    def __call__(self, message: Request | Response, source: Peer) -> None:
        self.queue.put_nowait((message, source))

    async def next(self) -> tuple[Request | Response, Peer]:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    async def next_request(self) -> tuple[Request, Peer]:
        message, source = await self.next()
        assert isinstance(message, Request)
        return message, source

    async def next_response(self) -> tuple[Response, Peer]:
        message, source = await self.next()
        assert isinstance(message, Response)
        return message, source


class Answering(Inbox):
    """A UAS that answers every request 200 where RFC 3261 18.2.2 says, and keeps it."""

    endpoint: SipEndpoint

    def __call__(self, message: Request | Response, source: Peer) -> None:
        super().__call__(message, source)
        if isinstance(message, Request):
            answer = response_to(message, 200, to_tag=new_tag())
            self.endpoint.send(answer, response_peer(message, source))


@contextlib.asynccontextmanager
async def opened(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    tcp: bool = True,
    guard: FloodGuard | None = None,
) -> AsyncIterator[SipEndpoint]:
    endpoint = await SipEndpoint.open(handler, host=host, tcp=tcp, guard=guard)
    if isinstance(handler, Answering):
        handler.endpoint = endpoint
    try:
        yield endpoint
    finally:
        await endpoint.close()


def options_request(
    to: Peer, *, via: str, host: str = "127.0.0.1", cseq: int = 1, call_id: str | None = None
) -> Request:
    target = f"[{to.host}]" if ":" in to.host else to.host
    return Request(
        "OPTIONS",
        parse_uri(f"sip:+33145000000@{target}:{to.port}"),
        Headers(
            [
                ("Via", via),
                ("From", f"<sip:+33612345678@lab.invalid>;tag={new_tag()}"),
                ("To", "<sip:+33145000000@lab.invalid>"),
                ("Call-ID", call_id or new_call_id(host)),
                ("CSeq", f"{cseq} OPTIONS"),
                ("Max-Forwards", "70"),
            ]
        ),
    )


def raw_options(via: str, *, extra: str = "", method: str = "OPTIONS") -> bytes:
    return (
        f"{method} sip:+33145000000@127.0.0.1 SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "From: <sip:+33612345678@lab.invalid>;tag=f1\r\n"
        "To: <sip:+33145000000@lab.invalid>\r\n"
        "Call-ID: raw-1@127.0.0.1\r\n"
        f"CSeq: 1 {method}\r\n"
        "Max-Forwards: 70\r\n"
        f"{extra}"
        "\r\n"
    ).encode()


def raw_udp(host: str = "127.0.0.1") -> socket.socket:
    """A bare UDP socket, to send what no SIP stack would and read what comes back."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def received_datagram(sock: socket.socket) -> Response:
    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 65_535), TIMEOUT)
    message = parse(data)
    assert isinstance(message, Response)
    return message


@contextlib.asynccontextmanager
async def raw_tcp(endpoint: SipEndpoint) -> AsyncIterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (endpoint.host, endpoint.port)), TIMEOUT)
        yield sock
    finally:
        sock.close()


async def received_on_stream(sock: socket.socket, buffer: bytearray) -> Response | None:
    """The next response on a raw TCP socket, None when the endpoint closed the connection."""
    loop = asyncio.get_running_loop()
    while True:
        message, rest = split_stream(bytes(buffer))
        if message is not None:
            buffer[:] = rest
            response = parse(message)
            assert isinstance(response, Response)
            return response
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65_535), TIMEOUT)
        if not chunk:
            return None
        buffer += chunk


# --- a request and its response, both ways ----------------------------------------------


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
@pytest.mark.parametrize("host", HOSTS)
async def test_options_gets_its_200_back(host: str, transport: Transport) -> None:
    caller, callee = Inbox(), Answering()
    async with opened(caller, host=host) as a, opened(callee, host=host) as b:
        branch = new_branch()
        a.send(
            options_request(Peer(b.host, b.port), via=a.via(transport, branch)),
            Peer(b.host, b.port, transport),
        )

        request, source = await callee.next_request()
        assert request.method == "OPTIONS"
        assert source.host == host
        assert source.transport == transport

        response, came_from = await caller.next_response()
        assert response.status == 200
        assert parse_via(response.headers.get_all("Via")[0]).branch == branch
        assert came_from == Peer(b.host, b.port, transport)
        assert a.stats.sent == b.stats.received == 1
        assert b.stats.sent == a.stats.received == 1


async def test_tcp_responses_and_later_requests_reuse_the_connection_the_caller_opened() -> None:
    caller, callee = Inbox(), Answering()
    async with opened(caller) as a, opened(callee) as b:
        to = Peer(b.host, b.port, "TCP")
        a.send(options_request(to, via=a.via("TCP"), cseq=1), to)
        _, first_source = await callee.next_request()
        await caller.next_response()
        a.send(options_request(to, via=a.via("TCP"), cseq=2), to)
        _, second_source = await callee.next_request()
        response, came_from = await caller.next_response()

    # The caller's ephemeral port is not listening: only the open connection could carry them.
    assert first_source.port != a.port
    assert second_source == first_source
    assert response.headers.get("CSeq") == "2 OPTIONS"
    assert came_from == to


async def test_udp_only_endpoint_answers_over_udp() -> None:
    caller, callee = Inbox(), Answering()
    async with opened(caller, tcp=False) as a, opened(callee, tcp=False) as b:
        a.send(options_request(Peer(b.host, b.port), via=a.via()), Peer(b.host, b.port))
        response, _ = await caller.next_response()
    assert response.status == 200


async def test_a_host_name_is_never_resolved_nor_sent_to() -> None:
    caller, callee = Inbox(), Inbox()
    async with opened(caller) as a, opened(callee) as b:
        a.send(options_request(Peer(b.host, b.port), via=a.via()), Peer("localhost", b.port))
        assert a.stats.send_failed == 1
        assert a.stats.sent == 0


# --- rport and received (RFC 3261 18.2.1, RFC 3581) ----------------------------------------


async def test_rport_is_filled_with_the_source_port_and_received_with_the_source_host() -> None:
    inbox = Answering()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            port = phone.getsockname()[1]
            phone.sendto(
                raw_options("SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKnat1;rport"),
                (endpoint.host, endpoint.port),
            )
            request, source = await inbox.next_request()
            answer = await received_datagram(phone)

    via = parse_via(request.headers.get_all("Via")[0])
    assert (via.received, via.rport, via.branch) == ("127.0.0.1", port, "z9hG4bKnat1")
    assert response_peer(request, source) == Peer("127.0.0.1", port)
    # The 200 reached the phone behind its "NAT" and carries the stamped Via back.
    assert answer.headers.get("Via") == request.headers.get("Via")


async def test_rport_alone_when_sent_by_is_already_the_source_host() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            port = phone.getsockname()[1]
            via = "SIP/2.0/UDP 127.0.0.1:5062;rport;branch=z9hG4bKsame"
            phone.sendto(raw_options(via), (endpoint.host, endpoint.port))
            request, source = await inbox.next_request()
    assert request.headers.get("Via") == (
        f"SIP/2.0/UDP 127.0.0.1:5062;rport={port};branch=z9hG4bKsame"
    )
    assert response_peer(request, source) == Peer("127.0.0.1", port)


@pytest.mark.parametrize(
    ("via", "stamped"),
    [
        (
            "SIP/2.0/UDP 192.0.2.7:5099;received=198.51.100.1;branch=z9hG4bKs;rport",
            "SIP/2.0/UDP 192.0.2.7:5099;received=127.0.0.1;branch=z9hG4bKs;rport={port}",
        ),
        (
            "SIP / 2.0 / UDP 192.0.2.7 : 5099 ; branch=z9hG4bKw ; RPORT",
            "SIP / 2.0 / UDP 192.0.2.7 : 5099 ; branch=z9hG4bKw ;rport={port};received=127.0.0.1",
        ),
        (
            'SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKq;note="a;rport";rport',
            'SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKq;note="a;rport";rport={port}'
            ";received=127.0.0.1",
        ),
    ],
)
async def test_stamping_replaces_a_stale_received_and_copes_with_odd_spelling(
    via: str, stamped: str
) -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            port = phone.getsockname()[1]
            phone.sendto(raw_options(via), (endpoint.host, endpoint.port))
            request, _ = await inbox.next_request()
    assert request.headers.get("Via") == stamped.format(port=port)


async def test_received_alone_when_sent_by_is_another_host_and_rport_is_not_asked() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            phone.sendto(
                raw_options("SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKold"),
                (endpoint.host, endpoint.port),
            )
            request, source = await inbox.next_request()
    via = parse_via(request.headers.get_all("Via")[0])
    assert (via.received, via.wants_rport) == ("127.0.0.1", False)
    # RFC 3261 18.2.2: the received host, at the sent-by port.
    assert response_peer(request, source) == Peer("127.0.0.1", 5099)


async def test_a_via_that_matches_the_source_is_left_as_it_came() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            port = phone.getsockname()[1]
            via = f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKplain"
            phone.sendto(raw_options(via), (endpoint.host, endpoint.port))
            request, _ = await inbox.next_request()
    assert request.headers.get_all("Via") == (via,)


async def test_only_the_top_via_is_stamped_and_the_others_keep_their_order() -> None:
    inbox = Inbox()
    lower = "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKproxy;received=203.0.113.9"
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            top = "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKtop;rport"
            phone.sendto(
                raw_options(top, extra=f"Via: {lower}\r\n"), (endpoint.host, endpoint.port)
            )
            request, _ = await inbox.next_request()
    vias = request.headers.get_all("Via")
    assert len(vias) == 2
    assert parse_via(vias[0]).branch == "z9hG4bKtop"
    assert parse_via(vias[0]).received == "127.0.0.1"
    assert vias[1] == lower


async def test_rport_over_tcp_names_the_connection_port() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint, raw_tcp(endpoint) as phone:
        port = phone.getsockname()[1]
        message = raw_options("SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bKt;rport", extra="l: 0\r\n")
        await asyncio.get_running_loop().sock_sendall(phone, message)
        request, source = await inbox.next_request()
    assert parse_via(request.headers.get_all("Via")[0]).rport == port
    assert source == Peer("127.0.0.1", port, "TCP")
    assert response_peer(request, source) is source


# --- broken messages -----------------------------------------------------------------------


async def test_a_broken_request_is_answered_400_saying_what_is_wrong() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            port = phone.getsockname()[1]
            broken = raw_options(
                "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKbad;rport",
                extra="Content-Length: abc\r\n",
            )
            phone.sendto(broken, (endpoint.host, endpoint.port))
            answer = await received_datagram(phone)

    assert (answer.status, answer.reason) == (400, "Bad Request")
    assert answer.headers.get("Call-ID") == "raw-1@127.0.0.1"
    assert answer.headers.get("CSeq") == "1 OPTIONS"
    assert "tag=" in (answer.headers.get("To") or "")
    via = parse_via(answer.headers.get_all("Via")[0])
    assert (via.branch, via.rport) == ("z9hG4bKbad", port)
    assert "Content-Length must be a decimal integer" in (answer.headers.get("Warning") or "")
    assert inbox.queue.empty()
    assert (endpoint.stats.malformed, endpoint.stats.answered_400) == (1, 1)


async def test_a_request_whose_via_does_not_parse_is_answered_400_at_its_source() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            phone.sendto(raw_options("SIP/2.0/UDP"), (endpoint.host, endpoint.port))
            answer = await received_datagram(phone)
    assert answer.status == 400
    assert "Via" in (answer.headers.get("Warning") or "")
    assert inbox.queue.empty()
    assert endpoint.stats.malformed == 1


async def test_a_broken_ack_is_never_answered() -> None:
    inbox = Answering()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            ack = raw_options("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKa;rport", method="ACK")
            broken = ack.replace(b"\r\n\r\n", b"\r\nContent-Length: 9\r\n\r\n")
            phone.sendto(broken, (endpoint.host, endpoint.port))
            phone.sendto(
                raw_options("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKb;rport"),
                (endpoint.host, endpoint.port),
            )
            # Datagrams from one socket arrive in order: the first answer is the OPTIONS's 200.
            answer = await received_datagram(phone)
    assert (answer.status, answer.headers.get("CSeq")) == (200, "1 OPTIONS")
    assert (endpoint.stats.malformed, endpoint.stats.answered_400) == (1, 0)


async def test_a_broken_response_is_dropped() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            phone.sendto(
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKr\r\n"
                b"Content-Length: 99\r\n\r\n",
                (endpoint.host, endpoint.port),
            )
            phone.sendto(
                raw_options("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKafter"),
                (endpoint.host, endpoint.port),
            )
            request, _ = await inbox.next_request()
    assert request.method == "OPTIONS"
    assert inbox.queue.empty()
    assert endpoint.stats == TransportStats(received=2, malformed=1, dropped_responses=1)


async def test_crlf_keepalives_are_neither_messages_nor_malformed() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint:
        with raw_udp() as phone:
            phone.sendto(b"\r\n\r\n", (endpoint.host, endpoint.port))
            phone.sendto(
                raw_options("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKk"),
                (endpoint.host, endpoint.port),
            )
            await inbox.next_request()
    assert endpoint.stats == TransportStats(received=1)


async def test_a_tcp_message_without_content_length_is_answered_and_the_connection_closed() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint, raw_tcp(endpoint) as phone:
        message = raw_options("SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bKnolen")
        await asyncio.get_running_loop().sock_sendall(phone, message)
        buffer = bytearray()
        answer = await received_on_stream(phone, buffer)
        closed = await received_on_stream(phone, buffer)
    assert answer is not None
    assert answer.status == 400
    assert "Content-Length" in (answer.headers.get("Warning") or "")
    assert closed is None
    assert inbox.queue.empty()


async def test_a_handler_that_raises_is_counted_and_the_endpoint_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def handler(message: Request | Response, source: Peer) -> None:
        assert isinstance(message, Request)
        seen.append(message.headers.get("Call-ID") or "")
        if len(seen) == 1:
            raise RuntimeError("the UA tripped over its own feet")
        done.set_result(None)

    caplog.set_level(logging.ERROR, logger="emulator.sip.transport")
    async with opened(handler) as endpoint:
        caller = Inbox()
        async with opened(caller) as a:
            to = Peer(endpoint.host, endpoint.port)
            a.send(options_request(to, via=a.via(), call_id="one@lab"), to)
            a.send(options_request(to, via=a.via(), call_id="two@lab"), to)
            await asyncio.wait_for(done, TIMEOUT)
    assert seen == ["one@lab", "two@lab"]
    assert endpoint.stats.handler_errors == 1
    assert "the UA tripped over its own feet" in caplog.text


# --- TCP framing ---------------------------------------------------------------------------


async def test_two_messages_in_one_tcp_segment_are_both_delivered() -> None:
    inbox = Inbox()
    async with opened(inbox) as endpoint, raw_tcp(endpoint) as phone:
        first = raw_options("SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK1", extra="l: 0\r\n")
        second = first.replace(b"z9hG4bK1", b"z9hG4bK2").replace(b"CSeq: 1", b"CSeq: 2")
        await asyncio.get_running_loop().sock_sendall(phone, first + second)
        one, _ = await inbox.next_request()
        two, _ = await inbox.next_request()
    assert (one.headers.get("CSeq"), two.headers.get("CSeq")) == ("1 OPTIONS", "2 OPTIONS")
    assert endpoint.stats.received == 2


async def test_a_message_split_across_segments_is_delivered_once_complete() -> None:
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
    first = raw_options("SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK1", extra="l: 0\r\n")
    second = raw_options(
        "SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK2",
        extra=f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n",
    ).replace(b"CSeq: 1", b"CSeq: 2")
    second += body
    cut = len(second) - len(body) // 2
    async with opened(inbox) as endpoint, raw_tcp(endpoint) as phone:
        # The first message and half the second go in one segment: once the first is
        # delivered, the endpoint holds the half and must wait for the rest.
        await loop.sock_sendall(phone, first + second[:cut])
        one, _ = await inbox.next_request()
        await loop.sock_sendall(phone, second[cut:])
        two, _ = await inbox.next_request()
    assert one.headers.get("CSeq") == "1 OPTIONS"
    assert (two.headers.get("CSeq"), two.body) == ("2 OPTIONS", body)


# --- sending that fails --------------------------------------------------------------------


async def test_sending_to_a_closed_udp_port_does_not_raise() -> None:
    with raw_udp() as gone:
        dead = Peer("127.0.0.1", gone.getsockname()[1])
    caller, callee = Inbox(), Inbox()
    async with opened(caller) as a, opened(callee) as b:
        a.send(options_request(dead, via=a.via()), dead)
        a.send(options_request(Peer(b.host, b.port), via=a.via()), Peer(b.host, b.port))
        request, _ = await callee.next_request()
    assert request.method == "OPTIONS"


class _Notice(logging.Handler):
    """Resolves a future when the transport logs a warning."""

    def __init__(self, future: asyncio.Future[str]) -> None:
        super().__init__(logging.WARNING)
        self.future = future

    def emit(self, record: logging.LogRecord) -> None:
        if not self.future.done():
            self.future.set_result(record.getMessage())


async def test_sending_over_tcp_to_a_closed_port_is_logged_and_counted() -> None:
    with raw_udp() as gone:  # a port just freed: nothing listens on it over TCP either
        dead = Peer("127.0.0.1", gone.getsockname()[1], "TCP")
    logged: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    notice = _Notice(logged)
    logger = logging.getLogger("emulator.sip.transport")
    logger.addHandler(notice)
    try:
        async with opened(Inbox()) as a:
            a.send(options_request(dead, via=a.via("TCP")), dead)
            a.send(options_request(dead, via=a.via("TCP"), cseq=2), dead)
            message = await asyncio.wait_for(logged, TIMEOUT)
            stats = a.stats
    finally:
        logger.removeHandler(notice)
    assert f"SIP over TCP to 127.0.0.1:{dead.port} failed, 2 message(s) dropped" in message
    assert (stats.sent, stats.send_failed) == (0, 2)


async def test_sending_after_close_is_counted_not_raised() -> None:
    async with opened(Inbox()) as a:
        pass
    to = Peer("127.0.0.1", 9)
    a.send(options_request(to, via=a.via()), to)
    a.send(options_request(to, via=a.via("TCP")), Peer("127.0.0.1", 9, "TCP"))
    assert (a.stats.sent, a.stats.send_failed) == (0, 2)


async def test_a_udp_message_over_1300_bytes_is_still_sent_and_counted() -> None:
    caller, callee = Inbox(), Inbox()
    async with opened(caller) as a, opened(callee) as b:
        to = Peer(b.host, b.port)
        big = options_request(to, via=a.via())
        big = Request(big.method, big.uri, big.headers.add("Subject", "x" * UDP_SIZE_BUDGET))
        a.send(big, to)
        request, _ = await callee.next_request()
    assert request.headers.get("Subject") == "x" * UDP_SIZE_BUDGET
    assert a.stats.oversized == 1


# --- closing -------------------------------------------------------------------------------


async def test_close_frees_both_ports_ends_every_connection_and_leaves_no_task() -> None:
    descriptors = Path("/proc/self/fd")
    open_before = len(list(descriptors.iterdir())) if descriptors.is_dir() else None
    caller, callee = Inbox(), Answering()
    a = await SipEndpoint.open(caller)
    b = await SipEndpoint.open(callee)
    callee.endpoint = b
    to = Peer(b.host, b.port, "TCP")
    a.send(options_request(to, via=a.via("TCP")), to)
    await caller.next_response()
    back = Peer(a.host, a.port, "TCP")
    b.send(options_request(back, via=b.via("TCP")), back)  # a second connection, b to a
    await caller.next_request()

    await b.close()
    await a.close()
    await a.close()  # a second close does nothing

    assert asyncio.all_tasks() == {asyncio.current_task()}
    if open_before is not None:  # Linux: every socket of both endpoints is closed
        assert len(list(descriptors.iterdir())) == open_before
    for endpoint in (a, b):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((endpoint.host, endpoint.port))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((endpoint.host, endpoint.port))
            tcp.listen()


async def test_an_explicit_port_already_taken_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match=r"[Aa]ddress already in use"):
            await SipEndpoint.open(Inbox(), port=taken.getsockname()[1])


async def test_port_zero_takes_a_fresh_pair_when_the_tcp_port_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refusals: list[int] = []
    bind = sip_transport._bound_socket

    def taken_once(family: socket.AddressFamily, kind: int, ip: str, port: int) -> socket.socket:
        if kind == socket.SOCK_STREAM and not refusals:
            refusals.append(port)
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return bind(family, kind, ip, port)

    monkeypatch.setattr(sip_transport, "_bound_socket", taken_once)
    caller, callee = Inbox(), Answering()
    async with opened(callee) as b, opened(caller) as a:
        for transport in ("UDP", "TCP"):
            to = Peer(b.host, b.port, transport)
            a.send(options_request(to, via=a.via(transport)), to)
            response, came_from = await caller.next_response()
            assert (response.status, came_from) == (200, to)
    assert len(refusals) == 1


async def test_a_host_name_binds_to_its_address() -> None:
    async with opened(Inbox(), host="localhost") as endpoint:
        assert endpoint.host in ("127.0.0.1", "::1")
        assert endpoint.port > 0


async def test_a_port_out_of_range_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="SIP port must be from 0 to 65535, got 70000"):
        await SipEndpoint.open(Inbox(), port=70_000)


@pytest.mark.parametrize("host", HOSTS)
async def test_via_names_the_bound_address_and_asks_for_rport(host: str) -> None:
    async with opened(Inbox(), host=host) as endpoint:
        shown = f"[{host}]" if ":" in host else host
        assert endpoint.via("TCP", "z9hG4bKx") == (
            f"SIP/2.0/TCP {shown}:{endpoint.port};branch=z9hG4bKx;rport"
        )
        fresh = parse_via(endpoint.via())
    assert (fresh.transport, fresh.host, fresh.port) == ("UDP", host, endpoint.port)
    assert fresh.branch is not None
    assert fresh.branch.startswith("z9hG4bK")
    assert fresh.wants_rport


# --- flood guard ---------------------------------------------------------------------------


async def test_flood_guard_refuses_past_the_burst_and_refills_with_time() -> None:
    clock = SimulatedClock()
    guard = FloodGuard(clock, rate_per_s=2, burst=3)
    assert [guard.allow("192.0.2.1") for _ in range(4)] == [True, True, True, False]
    await clock.advance(0.5)  # one token back at 2 a second
    assert [guard.allow("192.0.2.1") for _ in range(2)] == [True, False]
    await clock.advance(3600)  # never more than the burst
    assert [guard.allow("192.0.2.1") for _ in range(4)] == [True, True, True, False]
    assert guard.throttled == 3


def test_flood_guard_counts_each_host_apart() -> None:
    guard = FloodGuard(SimulatedClock(), rate_per_s=1, burst=1)
    assert guard.allow("192.0.2.1")
    assert not guard.allow("192.0.2.1")
    assert guard.allow("192.0.2.2")


def test_flood_guard_forgets_the_least_recently_seen_host() -> None:
    guard = FloodGuard(SimulatedClock(), rate_per_s=1, burst=1, max_hosts=2)
    assert guard.allow("192.0.2.1")
    assert guard.allow("192.0.2.2")
    assert not guard.allow("192.0.2.1")  # .1 is now the most recently seen
    assert guard.allow("192.0.2.3")  # .2 is forgotten to make room
    assert not guard.allow("192.0.2.1")  # .1 was kept, still empty
    assert guard.allow("192.0.2.2")  # .2 starts again with a full bucket


@pytest.mark.parametrize(
    ("rate_per_s", "burst", "max_hosts", "message"),
    [
        (0.0, 400, 4096, "rate_per_s must be a positive number, got 0.0"),
        (float("nan"), 400, 4096, "rate_per_s must be a positive number, got nan"),
        (float("inf"), 400, 4096, "rate_per_s must be a positive number, got inf"),
        (200.0, 0, 4096, "burst must be at least 1 message, got 0"),
        (200.0, 400, 0, "max_hosts must be at least 1, got 0"),
    ],
)
def test_flood_guard_refuses_settings_that_make_no_sense(
    rate_per_s: float, burst: int, max_hosts: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FloodGuard(SimulatedClock(), rate_per_s=rate_per_s, burst=burst, max_hosts=max_hosts)


async def test_endpoint_drops_what_its_guard_throttles() -> None:
    clock = SimulatedClock()
    guard = FloodGuard(clock, rate_per_s=1, burst=1)
    inbox = Inbox()
    async with opened(inbox, guard=guard) as endpoint:
        try:
            other_host = raw_udp("127.0.0.2")
        except OSError:
            pytest.skip("127.0.0.2 is not a loopback address here")
        with raw_udp() as flooder, other_host:
            to = (endpoint.host, endpoint.port)
            flooder.sendto(raw_options("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1"), to)
            flooder.sendto(raw_options("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK2"), to)
            # Queued after the second, from a host with a full bucket of its own.
            other_host.sendto(raw_options("SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK3"), to)
            first, _ = await inbox.next_request()
            third, _ = await inbox.next_request()
            await clock.advance(1)
            flooder.sendto(raw_options("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK4"), to)
            fourth, _ = await inbox.next_request()
    branches = [parse_via(m.headers.get_all("Via")[0]).branch for m in (first, third, fourth)]
    assert branches == ["z9hG4bK1", "z9hG4bK3", "z9hG4bK4"]
    assert (endpoint.stats.received, endpoint.stats.throttled, guard.throttled) == (4, 1, 1)


# --- where responses go (RFC 3261 18.2.2, RFC 3581) -----------------------------------------


def _request_with_via(*vias: str) -> Request:
    return Request(
        "INVITE",
        parse_uri("sip:+33145000000@lab.invalid"),
        Headers([*(("Via", via) for via in vias), ("CSeq", "1 INVITE")]),
    )


@pytest.mark.parametrize(
    ("via", "peer"),
    [
        (
            "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bK1;rport=40000;received=198.51.100.2",
            Peer("198.51.100.2", 40000),
        ),
        ("SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bK1;rport=40000", Peer("127.0.0.9", 40000)),
        ("SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bK1;rport", Peer("127.0.0.9", 41000)),
        (
            "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bK1;maddr=239.255.255.1;received=198.51.100.2",
            Peer("239.255.255.1", 5099),
        ),
        (
            "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bK1;received=198.51.100.2",
            Peer("198.51.100.2", 5099),
        ),
        ("SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1", Peer("192.0.2.7", 5060)),
        (
            "SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bK1;received=2001:db8::9",
            Peer("2001:db8::9", 5070),
        ),
    ],
)
def test_udp_responses_go_where_the_top_via_says(via: str, peer: Peer) -> None:
    lower = "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK0"
    assert response_peer(_request_with_via(via, lower), Peer("127.0.0.9", 41000)) == peer


def test_tcp_responses_go_back_over_the_connection() -> None:
    source = Peer("127.0.0.9", 41000, "TCP")
    request = _request_with_via("SIP/2.0/TCP 192.0.2.7:5099;branch=z9hG4bK1")
    assert response_peer(request, source) is source


def test_a_request_without_via_has_nowhere_to_be_answered() -> None:
    with pytest.raises(ValueError, match="the INVITE request has no Via header: nowhere to answer"):
        response_peer(_request_with_via(), Peer("127.0.0.9", 41000))
