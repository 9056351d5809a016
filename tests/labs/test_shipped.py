"""Every shipped scenario, played as a test case: each expectation must hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from labs.lab_cli import shipped
from labs.runner import LabRun
from labs.scenario import load_scenario


@pytest.mark.parametrize("path", shipped(), ids=lambda path: Path(path).stem)
async def test_the_shipped_scenario_holds(path: Path) -> None:
    result = await LabRun(load_scenario(path)).run()
    failures = [f"step {s.index} ({s.kind}, line {s.line}): {s.detail}" for s in result.failures]
    assert result.ok, "\n".join(failures)
    assert result.expectations, "a shipped scenario checks something"
