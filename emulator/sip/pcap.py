"""A tap on a SIP endpoint: the packets it sends and receives, written out as a pcap file."""

from __future__ import annotations

import array
import functools
import ipaddress
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from emulator.sip.peer import Peer

__all__ = ["MAX_SEGMENT", "PcapTap"]

MAX_SEGMENT: Final = 65_000
"""Largest TCP payload per written frame: a bigger recorded read is cut into several segments,
since an IP packet holds at most 65,535 octets."""

_MAX_DATAGRAM: Final = {4: 65_507, 6: 65_527}  # what one UDP datagram carries over IPv4, IPv6
_ETHERTYPE: Final = {4: 0x0800, 6: 0x86DD}
_UDP: Final = 17
_TCP: Final = 6
_TTL: Final = 64
_DONT_FRAGMENT: Final = 0x4000
_PUSH_ACK: Final = 0x18
_WINDOW: Final = 65_535
_FIRST_SEQUENCE: Final = 1
# A loopback capture on Linux is Ethernet with zero addresses; Wireshark shows it the same way.
_ZERO_MACS: Final = bytes(12)

_Captured = tuple[float, bytes, Peer, Peer]


class PcapTap:
    """Records the SIP packets an endpoint sends and receives, and writes them as a pcap with scapy.

    Holds at most `max_packets` records; later ones are counted in `dropped`, so that a long
    run keeps its beginning and bounded memory.
    """

    __slots__ = ("_captured", "_max_packets", "dropped", "packets")

    packets: int
    """Records held, to be written."""
    dropped: int
    """Records refused because `max_packets` were already held."""

    def __init__(self, *, max_packets: int = 1_000_000) -> None:
        if max_packets < 0:
            raise ValueError(f"pcap tap max_packets cannot be negative, got {max_packets}")
        self._max_packets = max_packets
        self._captured: list[_Captured] = []
        self.packets = 0
        self.dropped = 0

    def record(self, data: bytes, source: Peer, destination: Peer, at: float) -> None:
        """Keep one UDP datagram, or one TCP read or write, seen at `at` (epoch seconds).

        Raises ValueError when the two ends differ in transport or IP version, when a host
        is not an IP address, a port is out of range, or a datagram is too big for UDP.
        """
        if self.packets >= self._max_packets:
            self.dropped += 1
            return
        if source.transport != destination.transport:
            raise ValueError(
                f"a packet travels over one transport: source {source} is {source.transport},"
                f" destination {destination} is {destination.transport}"
            )
        version = _version(source.host)
        if _version(destination.host) != version:
            raise ValueError(
                f"a packet has one IP version: source {source} and destination {destination}"
                " are not both IPv4 or both IPv6"
            )
        for peer in (source, destination):
            if not 0 <= peer.port <= 65_535:
                raise ValueError(f"port {peer.port} of {peer.host} is not from 0 to 65535")
        if source.transport == "UDP" and len(data) > _MAX_DATAGRAM[version]:
            raise ValueError(
                f"a UDP datagram over IPv{version} carries at most {_MAX_DATAGRAM[version]}"
                f" octets, not {len(data)}"
            )
        self._captured.append((at, bytes(data), source, destination))
        self.packets += 1

    def write(self, path: Path) -> int:
        """Write what was recorded to `path` as a pcap (Ethernet link type); return the frames.

        UDP records become one IPv4 or IPv6 datagram each. TCP records become segments with
        running sequence and acknowledgement numbers per direction, without a handshake,
        which Wireshark follows as a stream; a record longer than MAX_SEGMENT becomes several.
        """
        # scapy takes a quarter of a second to import: only a run that writes a pcap pays it.
        from scapy.data import DLT_EN10MB
        from scapy.utils import PcapWriter

        next_sequence: dict[tuple[Peer, Peer], int] = {}
        written = 0
        with PcapWriter(str(path), linktype=DLT_EN10MB, sync=False) as writer:
            writer.write_header(None)  # write_packet, unlike write, does not
            for at, data, source, destination in self._captured:
                seconds, micros = divmod(round(at * 1_000_000), 1_000_000)
                for frame in _frames(data, source, destination, next_sequence):
                    writer.write_packet(frame, sec=seconds, usec=micros)
                    written += 1
        return written


def _frames(
    data: bytes,
    source: Peer,
    destination: Peer,
    next_sequence: dict[tuple[Peer, Peer], int],
) -> Iterator[bytes]:
    version = _version(source.host)
    src = _packed(source.host)
    dst = _packed(destination.host)
    if source.transport == "UDP":
        yield _ip_frame(version, src, dst, _UDP, _udp(src, dst, source, destination, data))
        return
    flow = (source, destination)
    reverse = (destination, source)
    for start in range(0, max(len(data), 1), MAX_SEGMENT):
        chunk = data[start : start + MAX_SEGMENT]
        sequence = next_sequence.get(flow, _FIRST_SEQUENCE)
        acknowledged = next_sequence.get(reverse, _FIRST_SEQUENCE)
        next_sequence[flow] = (sequence + len(chunk)) % 2**32
        segment = _tcp(src, dst, source, destination, sequence, acknowledged, chunk)
        yield _ip_frame(version, src, dst, _TCP, segment)


def _pseudo_header(src: bytes, dst: bytes, protocol: int, length: int) -> bytes:
    """What the UDP and TCP checksums cover besides the segment (RFC 768, RFC 8200 8.1)."""
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, protocol, length)
    return src + dst + struct.pack("!I3xB", length, protocol)


def _udp(
    src: bytes,
    dst: bytes,
    source: Peer,
    destination: Peer,
    data: bytes,
) -> bytes:
    length = 8 + len(data)
    header = struct.pack("!HHHH", source.port, destination.port, length, 0)
    # A computed 0 is sent as all ones: 0 means "no checksum", which IPv6 forbids (RFC 768).
    total = _checksum(_pseudo_header(src, dst, _UDP, length) + header + data) or 0xFFFF
    return header[:6] + struct.pack("!H", total) + data


def _tcp(
    src: bytes,
    dst: bytes,
    source: Peer,
    destination: Peer,
    sequence: int,
    acknowledged: int,
    data: bytes,
) -> bytes:
    header = struct.pack(
        "!HHIIBBHHH",
        source.port,
        destination.port,
        sequence,
        acknowledged,
        5 << 4,  # data offset: 5 words, no options
        _PUSH_ACK,
        _WINDOW,
        0,
        0,
    )
    total = _checksum(_pseudo_header(src, dst, _TCP, len(header) + len(data)) + header + data)
    return header[:16] + struct.pack("!H", total) + header[18:] + data


def _ip_frame(version: int, src: bytes, dst: bytes, protocol: int, payload: bytes) -> bytes:
    """An Ethernet frame around an IPv4 or IPv6 packet carrying `payload`."""
    ethernet = _ZERO_MACS + struct.pack("!H", _ETHERTYPE[version])
    if version == 6:
        header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), protocol, _TTL, src, dst)
        return ethernet + header + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, _DONT_FRAGMENT, _TTL, protocol, 0, src, dst
    )
    return ethernet + header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + payload


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    words = array.array("H", data + b"\0" if len(data) % 2 else data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words)
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


@functools.lru_cache(maxsize=4096)
def _version(host: str) -> int:
    """4 or 6 for an IP address; raises ValueError for anything else."""
    try:
        return ipaddress.ip_address(host.partition("%")[0]).version
    except ValueError:
        raise ValueError(f"a pcap needs IP addresses, and {host!r} is not one") from None


@functools.lru_cache(maxsize=4096)
def _packed(host: str) -> bytes:
    return ipaddress.ip_address(host.partition("%")[0]).packed
