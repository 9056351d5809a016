"""pytest fixtures with emulated Livebox pro boxes, served in-process on free loopback ports.

Installed with livebox-lab (entry point `pytest11`), so any test suite can write:

    async def test_reads_the_serial(livebox):
        host, port = livebox.endpoints()["ssh"].split(":")
        ...                                     # any SSH or sysbus client

    async def test_a_fleet(livebox_fleet):
        fleet = await livebox_fleet(10)

With telephony (the default), `fleet.core` is the operator core: each served box has its
numbers (`served.numbers`) and its VoIP line's agent (`served.voip`), which registers with
what provisioning writes in the box (password: `livebox_sip_password`).

The boxes use a simulated clock (`livebox_clock`): `await livebox_clock.advance(61)` lets a
`commit confirm 60` expire without waiting. Everything started is stopped at teardown.
The fixtures are asyncio fixtures: they need pytest-asyncio (`pip install livebox-lab[pytest]`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from emulator.fleet import Fleet, ServedBox
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock

try:
    import pytest_asyncio

    HAS_PYTEST_ASYNCIO = True
except ImportError:  # pragma: no cover - depends on the user's environment
    HAS_PYTEST_ASYNCIO = False

#: The admin password of the boxes the fixtures serve.
PASSWORD = "livebox-lab"
#: Where the simulated clock of the fixtures starts (a Monday morning, Paris winter time).
EPOCH = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)

FleetFactory = Callable[..., Awaitable[Fleet]]


def _asyncio_fixture(function: Callable[..., Any]) -> Any:
    if not HAS_PYTEST_ASYNCIO:

        @pytest.fixture
        def missing() -> None:
            pytest.fail(
                "the livebox fixtures need pytest-asyncio: pip install 'livebox-lab[pytest]'"
            )

        missing.__name__ = function.__name__
        return missing
    return pytest_asyncio.fixture(function)


@pytest.fixture
def livebox_offer() -> str:
    """The offer of the boxes the fixtures serve; override this fixture to change it."""
    return "optimale-pro-intense"


@pytest.fixture
def livebox_sip_password() -> str:
    """The SIP password the operator core expects of every box's VoIP line; override it to
    change it (a site file aimed at the fixtures' boxes must carry the same)."""
    return "livebox-lab-sip"


@pytest.fixture
def livebox_clock() -> SimulatedClock:
    """The simulated clock of the boxes: time moves only when a test advances it."""
    return SimulatedClock(EPOCH)


@_asyncio_fixture
async def livebox_fleet(
    livebox_offer: str, livebox_clock: SimulatedClock, livebox_sip_password: str
) -> AsyncIterator[FleetFactory]:
    """A factory of fleets: `await livebox_fleet(n, **fleet_options)`; all stopped at teardown."""
    offer = Catalogue.load().offer(livebox_offer)
    fleets: list[Fleet] = []

    async def make(boxes: int = 1, **options: Any) -> Fleet:
        options.setdefault("admin_password", PASSWORD)
        options.setdefault("sip_password", livebox_sip_password)
        fleet = Fleet(offer, boxes=boxes, clock=livebox_clock, **options)
        fleets.append(fleet)
        await fleet.start()
        return fleet

    yield make
    for fleet in fleets:
        await fleet.close()


@_asyncio_fixture
async def livebox(livebox_fleet: FleetFactory) -> ServedBox:
    """One emulated box served over SSH and sysbus (admin password: `PASSWORD`)."""
    fleet = await livebox_fleet(1)
    return fleet.served[0]
