"""Fixtures for the emulator tests: a simulated clock and one box on the intense offer."""

from __future__ import annotations

import datetime as dt

import pytest

from emulator.box import EmulatedBox
from emulator.dsl import LineProfile, Technology
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.model import Offer

START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)
ADMIN_PASSWORD = "s3cret-Admin"


@pytest.fixture(scope="session")
def intense() -> Offer:
    return Catalogue.load().offer("optimale-pro-intense")


@pytest.fixture
def clock() -> SimulatedClock:
    """Time that stands at 5 October 2026, 09:00 UTC until a test moves it."""
    return SimulatedClock(START)


@pytest.fixture
def box(intense: Offer, clock: SimulatedClock) -> EmulatedBox:
    """box-1: a VDSL2 line at 12 dB, admin password ADMIN_PASSWORD, on the simulated clock."""
    return EmulatedBox.create(
        "box-1",
        intense,
        LineProfile(Technology.VDSL2, attenuation_db=12),
        clock=clock,
        admin_password=ADMIN_PASSWORD,
    )
