"""Rating hooks: registered in code or installed through the entry-point group."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from profiles.hooks import ENTRY_POINT_GROUP, HookError, HookLoadError, RatingHooks
from profiles.rating import PricedCall, Rater
from profiles.records import CallRecord

from .conftest import MakeCall


def test_a_hook_registered_in_code_sees_each_record_and_its_price(
    rater: Callable[[str], Rater], call: MakeCall
) -> None:
    seen: list[tuple[str, Decimal]] = []
    hooks = RatingHooks(rater("optimale-pro-initial"))

    @hooks.register
    def audit(record: CallRecord, priced: PricedCall) -> None:
        seen.append((record.callee, priced.cost))

    priced = hooks(call("0612345678", 60))
    assert seen == [("0612345678", Decimal("0.268"))]
    assert priced.cost == Decimal("0.268")


def test_a_failing_hook_is_named(rater: Callable[[str], Rater], call: MakeCall) -> None:
    def broken(record: CallRecord, priced: PricedCall) -> None:
        raise KeyError("ledger")

    hooks = RatingHooks(rater("optimale-pro-initial"), [broken])
    with pytest.raises(HookError, match=r"rating hook .*broken failed on the call of .* to 0612"):
        hooks(call("0612345678", 60))


@pytest.fixture
def installed_hook(tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """Install a tiny distribution declaring one rating hook, the way pip would."""

    def install(target: str) -> None:
        (tmp_path / "bench_hooks.py").write_text(
            "SEEN = []\n"
            "def record_call(record, priced):\n"
            "    SEEN.append(priced.rule)\n"
            "NOT_CALLABLE = 42\n"
        )
        dist = tmp_path / "bench_hooks-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-hooks\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbench = {target}\n")
        sys.path.insert(0, str(tmp_path))

    yield install
    sys.path.remove(str(tmp_path))
    sys.modules.pop("bench_hooks", None)


def test_hooks_installed_through_entry_points_are_called(
    installed_hook: Callable[[str], None], rater: Callable[[str], Rater], call: MakeCall
) -> None:
    installed_hook("bench_hooks:record_call")
    hooks = RatingHooks(rater("optimale-pro-initial"), entry_points=True)
    hooks(call("0145000000", 60))
    import bench_hooks  # type: ignore[import-not-found]

    assert bench_hooks.SEEN == ["included: unlimited calls to metropolitan fixed"]


def test_an_entry_point_that_is_not_callable_is_refused(
    installed_hook: Callable[[str], None], rater: Callable[[str], Rater]
) -> None:
    installed_hook("bench_hooks:NOT_CALLABLE")
    with pytest.raises(HookLoadError, match=r"rating hook 'bench' \(bench_hooks:NOT_CALLABLE\)"):
        RatingHooks(rater("optimale-pro-initial"), entry_points=True)


def test_an_entry_point_that_does_not_load_is_named(
    installed_hook: Callable[[str], None], rater: Callable[[str], Rater]
) -> None:
    installed_hook("bench_hooks:missing")
    with pytest.raises(HookLoadError, match=r"rating hook 'bench' \(bench_hooks:missing\): "):
        RatingHooks(rater("optimale-pro-initial"), entry_points=True)
