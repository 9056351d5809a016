"""Where a SIP message came from or goes to: a host, a port and a transport."""

from __future__ import annotations

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
