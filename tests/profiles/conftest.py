"""Fixtures for the offer tests: the shipped catalogue, raters, and call records."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from profiles.catalogue import DATA_DIR, Catalogue
from profiles.model import LineName
from profiles.rating import Rater
from profiles.records import PARIS, CallRecord, Disposition, ForwardReason

MakeCall = Callable[..., CallRecord]


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped data files, to break one on purpose."""
    return Path(shutil.copytree(DATA_DIR, tmp_path / "data"))


@pytest.fixture
def rater(catalogue: Catalogue) -> Callable[[str], Rater]:
    return lambda offer: Rater(catalogue, offer)


@pytest.fixture
def call() -> MakeCall:
    """A call record; each call is one minute after the previous one unless `start` is given."""
    clock = [dt.datetime(2026, 10, 5, 9, 0, tzinfo=PARIS)]

    def make(
        callee: str,
        duration_s: int = 60,
        *,
        start: dt.datetime | None = None,
        line: str = "classic",
        account: str = "",
        disposition: str = "answered",
        forwarded_from: str | None = None,
        forward_reason: str | None = None,
        kind: str = "call",
    ) -> CallRecord:
        if start is None:
            clock[0] += dt.timedelta(minutes=1)
            start = clock[0]
        else:
            clock[0] = start
        return CallRecord(
            start=start,
            line=LineName(line),
            caller="0145000000",
            callee=callee,
            duration_s=duration_s,
            account=account,
            disposition=Disposition(disposition),
            forwarded_from=forwarded_from,
            forward_reason=ForwardReason(forward_reason) if forward_reason else None,
            kind=kind,
        )

    return make
