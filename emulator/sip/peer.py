"""Where a SIP message came from or goes to: a host, a port and a transport."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

Transport = Literal["UDP", "TCP"]


@dataclass(frozen=True, slots=True)
class Peer:
    """The far end of a message as the transport saw it (for a request: its source)."""

    host: str
    port: int
    transport: Transport = "UDP"

    @property
    def reliable(self) -> bool:
        """TCP delivers or fails; only UDP needs the retransmission timers."""
        return self.transport == "TCP"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def loopback_only(host: str, port: int) -> Peer | None:
    """The reach of the lab's emulated elements: loopback addresses, and nothing else."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return Peer(str(address), port) if address.is_loopback else None
