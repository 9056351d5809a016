"""Session descriptions (RFC 4566) for the lab's calls: signalling is real, voice is not carried."""

from __future__ import annotations


def audio_offer(host: str, port: int, *, origin: str = "livebox-lab") -> bytes:
    """An audio offer or answer: PCMU first (pyVoIP 1.6.8 sends the first codec and needs one
    `c=` line), PCMA, and DTMF events, on `host`:`port`."""
    family = "IP6" if ":" in host else "IP4"
    return (
        "v=0\r\n"
        f"o={origin} 1 1 IN {family} {host}\r\n"
        f"s={origin}\r\n"
        f"c=IN {family} {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=sendrecv\r\n"
    ).encode()
