"""Provisioning speed: 500 emulated boxes, served by another process, provisioned with full verify.

Usage: python benchmarks/provisioning.py [--boxes 500] [--concurrency 50]

`livebox emulate` serves the boxes in a child process. In this process, the same boxes are
first reached raw (asyncssh: connect, log in, run one command, close), then provisioned from
an inventory (read, diff, commit confirm, read back and verify, confirm), both with the same
concurrency. Ends with: RESULT boxes_per_s=... raw_ssh_per_s=... ratio=...
"""

from __future__ import annotations

import sys
from pathlib import Path

# This script is named like the package it measures: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import json
import subprocess
import tempfile
import time

import asyncssh
import yaml

from provisioning.inventory import load_inventory
from provisioning.runner import run, site_jobs

PASSWORD = "bench-admin"
SIP_PASSWORD = "bench-sip"
EXAMPLE = Path(__file__).parents[1] / "provisioning" / "examples" / "site.yaml"


def serve(boxes: int) -> tuple[subprocess.Popen[str], list[dict[str, str]]]:
    child = subprocess.Popen(
        [
            *(sys.executable, "-c", "from labs.cli import main; main()", "emulate"),
            *("--boxes", str(boxes), "--json", "--password", PASSWORD),
            *("--sip-password", SIP_PASSWORD),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, [json.loads(child.stdout.readline()) for _ in range(boxes)]


async def raw_rate(boxes: list[dict[str, str]], concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def one(box: dict[str, str]) -> None:
        host, port = box["ssh"].rsplit(":", 1)
        async with (
            limit,
            asyncssh.connect(
                host, int(port), username="admin", password=PASSWORD, known_hosts=None
            ) as connection,
        ):
            await connection.run("Device.DeviceInfo.ModelName?", check=True)

    began = time.perf_counter()
    await asyncio.gather(*(one(box) for box in boxes))
    return len(boxes) / (time.perf_counter() - began)


def inventory(boxes: list[dict[str, str]], folder: Path) -> Path:
    site = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    site["box"] = {
        "transport": "ssh",
        "user": "admin",
        "password": PASSWORD,
        "known_hosts": str(folder / "known_hosts"),
        "trust_on_first_use": True,
    }
    site["voip_line"].pop("password_env", None)
    site["voip_line"]["password"] = SIP_PASSWORD
    hosts = {}
    for box in boxes:
        host, port = box["ssh"].rsplit(":", 1)
        core, core_port = box["sip"].rsplit(":", 1)
        # Each box's VoIP line registers to the operator core under the box's own number.
        line = dict(site["voip_line"], directory_number=box["voip_number"])
        line.update(sip_user=box["sip_user"], registrar=core, proxy=core, domain=core)
        line.update(registrar_port=int(core_port), proxy_port=int(core_port))
        hosts[box["name"]] = {"box": {"host": host, "port": int(port)}, "voip_line": line}
    path = folder / "inventory.yaml"
    path.write_text(yaml.safe_dump({"defaults": site, "hosts": hosts}, sort_keys=False))
    return path


async def provision_rate(path: Path, concurrency: int) -> tuple[float, int]:
    jobs = site_jobs(load_inventory(path).sites)
    began = time.perf_counter()
    outcome = await run(jobs, concurrency=concurrency, canary=1, max_failures=len(jobs))
    elapsed = time.perf_counter() - began
    changed = sum(1 for r in outcome.results.values() if r.changed and not r.failed)
    if outcome.failed:
        first = outcome.results[sorted(outcome.failed)[0]]
        print(f"{len(outcome.failed)} failed, e.g. {first.name}: {first.error}")
    return len(jobs) / elapsed, changed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()

    child, boxes = serve(args.boxes)
    try:
        raw = await raw_rate(boxes, args.concurrency)
        print(f"raw asyncssh, connect + one command: {raw:.1f} boxes/s")
        with tempfile.TemporaryDirectory() as folder:
            path = inventory(boxes, Path(folder))
            Path(folder, "known_hosts").write_text("")
            rate, changed = await provision_rate(path, args.concurrency)
        print(f"provisioned {changed} of {args.boxes} boxes: {rate:.1f} boxes/s")
    finally:
        child.terminate()
        child.wait(timeout=60)
    print(f"RESULT boxes_per_s={rate:.1f} raw_ssh_per_s={raw:.1f} ratio={rate / raw:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
