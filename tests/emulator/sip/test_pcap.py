"""The pcap tap: SIP over UDP and TCP, IPv4 and IPv6, as Wireshark reads it back."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from scapy.data import DLT_EN10MB
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.plist import PacketList
from scapy.utils import PcapReader, rdpcap

from emulator.sip.compose import new_call_id, new_tag, response_to
from emulator.sip.message import Headers, Request, Response, parse_uri
from emulator.sip.pcap import MAX_SEGMENT, PcapTap
from emulator.sip.peer import Peer, Transport
from emulator.sip.transport import SipEndpoint, response_peer

TIMEOUT = 5.0  # a safety net against a hang, never reached when the code works
AT = 1_791_190_800.25  # 2026-10-05 09:00:00.25 UTC
OPTIONS = (
    b"OPTIONS sip:+33145000000@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKp1;rport\r\n"
    b"Content-Length: 0\r\n\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKp1\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def written(tap: PcapTap, path: Path) -> PacketList:
    count = tap.write(path)
    packets = rdpcap(str(path))
    assert len(packets) == count
    return packets


def recomputed(packet: Packet) -> Packet:
    """The same packet with every checksum left for scapy to compute."""
    copy = packet.copy()
    for layer in (IP, UDP, TCP):
        if layer in copy:
            del copy[layer].chksum
    return Ether(bytes(copy))


def test_a_udp_datagram_is_written_as_wireshark_expects(tmp_path: Path) -> None:
    tap = PcapTap()
    tap.record(OPTIONS, Peer("127.0.0.1", 5062), Peer("127.0.0.1", 5060), AT)
    packets = written(tap, tmp_path / "sip.pcap")

    with PcapReader(str(tmp_path / "sip.pcap")) as reader:
        assert reader.linktype == DLT_EN10MB
    (packet,) = packets
    assert (packet[IP].src, packet[IP].dst, packet[IP].proto, packet[IP].ttl) == (
        "127.0.0.1",
        "127.0.0.1",
        17,
        64,
    )
    assert (packet[UDP].sport, packet[UDP].dport) == (5062, 5060)
    assert packet[UDP].len == 8 + len(OPTIONS)
    assert packet[IP].len == 20 + 8 + len(OPTIONS)
    assert packet[Raw].load == OPTIONS
    assert float(packet.time) == pytest.approx(AT, abs=1e-6)


def test_an_ipv6_datagram_carries_its_addresses_and_lengths(tmp_path: Path) -> None:
    tap = PcapTap()
    tap.record(OK, Peer("::1", 5060), Peer("2001:db8::7", 5062), AT)
    (packet,) = written(tap, tmp_path / "sip6.pcap")
    assert packet[Ether].type == 0x86DD
    assert (packet[IPv6].src, packet[IPv6].dst, packet[IPv6].nh) == ("::1", "2001:db8::7", 17)
    assert packet[IPv6].plen == packet[UDP].len == 8 + len(OK)
    assert packet[Raw].load == OK


@pytest.mark.parametrize(
    ("host", "transport"),
    [("127.0.0.1", "UDP"), ("127.0.0.1", "TCP"), ("::1", "UDP"), ("::1", "TCP")],
)
def test_checksums_are_the_ones_scapy_computes(
    tmp_path: Path, host: str, transport: Transport
) -> None:
    tap = PcapTap()
    tap.record(OPTIONS + b"odd", Peer(host, 5062, transport), Peer(host, 5060, transport), AT)
    (packet,) = written(tap, tmp_path / "sums.pcap")
    assert bytes(packet) == bytes(recomputed(packet))


def test_tcp_segments_number_each_direction_on_its_own(tmp_path: Path) -> None:
    phone, server = Peer("127.0.0.1", 41000, "TCP"), Peer("127.0.0.1", 5060, "TCP")
    tap = PcapTap()
    tap.record(b"a" * 100, phone, server, AT)
    tap.record(b"b" * 50, phone, server, AT + 0.001)
    tap.record(b"c" * 30, server, phone, AT + 0.002)
    tap.record(b"d" * 10, phone, server, AT + 0.003)
    segments = [
        (p[TCP].sport, p[TCP].seq, p[TCP].ack, str(p[TCP].flags), len(p[Raw].load))
        for p in written(tap, tmp_path / "tcp.pcap")
    ]
    assert segments == [
        (41000, 1, 1, "PA", 100),
        (41000, 101, 1, "PA", 50),
        (5060, 1, 151, "PA", 30),
        (41000, 151, 31, "PA", 10),
    ]


def test_a_read_bigger_than_a_segment_is_cut_into_several(tmp_path: Path) -> None:
    data = bytes(range(256)) * 300  # 76,800 octets: more than one IP packet holds
    tap = PcapTap()
    tap.record(data, Peer("127.0.0.1", 41000, "TCP"), Peer("127.0.0.1", 5060, "TCP"), AT)
    packets = written(tap, tmp_path / "big.pcap")
    assert [len(p[Raw].load) for p in packets] == [MAX_SEGMENT, len(data) - MAX_SEGMENT]
    assert [p[TCP].seq for p in packets] == [1, 1 + MAX_SEGMENT]
    assert b"".join(p[Raw].load for p in packets) == data
    assert tap.packets == 1


def test_past_max_packets_records_are_dropped_and_counted(tmp_path: Path) -> None:
    tap = PcapTap(max_packets=2)
    for n in range(5):
        tap.record(OPTIONS, Peer("127.0.0.1", 5062), Peer("127.0.0.1", 5060), AT + n)
    assert (tap.packets, tap.dropped) == (2, 3)
    assert [float(p.time) for p in written(tap, tmp_path / "cut.pcap")] == [AT, AT + 1]


def test_an_empty_tap_writes_a_valid_empty_capture(tmp_path: Path) -> None:
    assert PcapTap().write(tmp_path / "empty.pcap") == 0
    with PcapReader(str(tmp_path / "empty.pcap")) as reader:
        assert reader.linktype == DLT_EN10MB
    assert len(rdpcap(str(tmp_path / "empty.pcap"))) == 0


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        (
            Peer("127.0.0.1", 5062, "UDP"),
            Peer("127.0.0.1", 5060, "TCP"),
            "source 127.0.0.1:5062 is UDP, destination 127.0.0.1:5060 is TCP",
        ),
        (
            Peer("127.0.0.1", 5062),
            Peer("::1", 5060),
            "source 127.0.0.1:5062 and destination [::1]:5060 are not both IPv4 or both IPv6",
        ),
        (Peer("pbx.lab.invalid", 5062), Peer("127.0.0.1", 5060), "'pbx.lab.invalid' is not one"),
        (Peer("127.0.0.1", 70000), Peer("127.0.0.1", 5060), "port 70000 of 127.0.0.1"),
    ],
)
def test_a_record_that_cannot_be_a_packet_is_refused_by_name(
    source: Peer, destination: Peer, message: str
) -> None:
    tap = PcapTap()
    with pytest.raises(ValueError, match=re.escape(message)):
        tap.record(OPTIONS, source, destination, AT)
    assert tap.packets == 0


def test_a_datagram_too_big_for_udp_is_refused() -> None:
    with pytest.raises(ValueError, match="over IPv4 carries at most 65507 octets, not 65508"):
        PcapTap().record(b"x" * 65_508, Peer("127.0.0.1", 1), Peer("127.0.0.1", 2), AT)


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_packets cannot be negative, got -1"):
        PcapTap(max_packets=-1)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_an_endpoint_taps_what_it_sends_and_receives(
    tmp_path: Path, transport: Transport
) -> None:
    tap = PcapTap()
    answered: asyncio.Queue[Response] = asyncio.Queue()
    endpoints: dict[str, SipEndpoint] = {}

    def caller(message: Request | Response, source: Peer) -> None:
        assert isinstance(message, Response)
        answered.put_nowait(message)

    def callee(message: Request | Response, source: Peer) -> None:
        assert isinstance(message, Request)
        answer = response_to(message, 200, to_tag=new_tag())
        endpoints["b"].send(answer, response_peer(message, source))

    a = await SipEndpoint.open(caller, tap=tap)
    b = endpoints["b"] = await SipEndpoint.open(callee)
    try:
        to = Peer(b.host, b.port, transport)
        request = Request(
            "OPTIONS",
            parse_uri(f"sip:+33145000000@{b.host}:{b.port}"),
            Headers(
                [
                    ("Via", a.via(transport)),
                    ("From", f"<sip:+33612345678@lab.invalid>;tag={new_tag()}"),
                    ("To", "<sip:+33145000000@lab.invalid>"),
                    ("Call-ID", new_call_id(a.host)),
                    ("CSeq", "1 OPTIONS"),
                ]
            ),
        )
        a.send(request, to)
        await asyncio.wait_for(answered.get(), TIMEOUT)
    finally:
        await a.close()
        await b.close()

    sent, received = written(tap, tmp_path / "endpoint.pcap")
    layer = UDP if transport == "UDP" else TCP
    assert sent[Raw].load.startswith(b"OPTIONS sip:+33145000000@")
    assert received[Raw].load.startswith(b"SIP/2.0 200 OK\r\n")
    assert sent[layer].dport == received[layer].sport == b.port
    assert sent[layer].sport == received[layer].dport
    if transport == "UDP":
        assert sent[layer].sport == a.port
    else:
        assert received[TCP].ack == sent[TCP].seq + len(sent[Raw].load)
