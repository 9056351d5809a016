"""Lab speed: the default scenario, and a 200-box fleet scenario, from the YAML to the verdict.

Each is played as `livebox lab run` plays it (the bench built, every step, the bench torn down),
timed on the wall clock. Goals: the default scenario in under 10 s, the 200-box fleet in under
60 s. Ends with `RESULT default_s=... fleet200_s=...`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder is on sys.path ahead of the project: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import time

from labs.lab_cli import DEFAULT, SHIPPED
from labs.runner import LabRun
from labs.scenario import load_scenario


async def timed(name: str) -> float:
    began = time.perf_counter()
    result = await LabRun(load_scenario(SHIPPED / f"{name}.yaml")).run()
    elapsed = time.perf_counter() - began
    verdict = "passed" if result.ok else f"FAILED ({len(result.failures)} steps)"
    print(f"{name}: {len(result.steps)} steps, {verdict}, {elapsed:.2f} s")
    if not result.ok:
        raise SystemExit(f"{name} did not pass: its time is not a measure")
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the best one counts")
    args = parser.parse_args()
    default = min([await timed(DEFAULT) for _ in range(args.runs)])
    fleet = min([await timed("fleet-rollout") for _ in range(args.runs)])
    print(f"RESULT default_s={default:.2f} fleet200_s={fleet:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
