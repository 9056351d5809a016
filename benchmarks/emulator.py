"""Emulator speed and memory: one box's start-up, a 5,000-box fleet, sysbus and SSH throughput.

Usage: python benchmarks/emulator.py [--fleet 5000] [--calls 6000] [--commands 2000]

- box_start_s: create and serve one box (SSH + sysbus listening), median of 20.
- fleet_start_s, fleet_rss_mb: a fleet in a child process, from start to every box listening,
  and that process's resident memory then (the parent is not counted).
- sysbus_calls_per_s: getDSLStats calls over 8 keep-alive HTTP connections to the first box
  of that fleet: the server has its core, this process (the clients) the other.
- ssh_cmds_per_s: commands on one open interactive SSH session to the same box.
Ends with: RESULT box_start_s=... fleet_start_s=... fleet_rss_mb=... sysbus_calls_per_s=...
ssh_cmds_per_s=...
"""

from __future__ import annotations

import sys
from pathlib import Path

# This script is named like the package it measures: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import json
import statistics
import subprocess
import time

import aiohttp
import asyncssh

from emulator.fleet import Fleet
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock

PASSWORD = "bench"
CLIENTS = 8
CHILD = """
import asyncio, json, resource, sys, time
from emulator.fleet import Fleet
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock

async def main(boxes):
    offer = Catalogue.load().offer("optimale-pro-intense")
    began = time.perf_counter()
    fleet = Fleet(offer, boxes=boxes, clock=SimulatedClock(), own_addresses=True,
                  admin_password=sys.argv[2])
    async with fleet:
        elapsed = time.perf_counter() - began
        with open("/proc/self/status") as status:
            rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024
        first = fleet.served[0].endpoints()
        print(json.dumps({"boxes": len(fleet.served), "start_s": elapsed, "rss_mb": rss,
                          "first": first}))
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

asyncio.run(main(int(sys.argv[1])))
"""


async def box_start_s(offer_name: str) -> float:
    offer = Catalogue.load().offer(offer_name)
    async with Fleet(offer, boxes=1, clock=SimulatedClock()):
        pass  # warm up: imports, the data model, the numbering tables
    timings = []
    for _ in range(20):
        began = time.perf_counter()
        fleet = Fleet(offer, boxes=1, clock=SimulatedClock())
        await fleet.start()
        timings.append(time.perf_counter() - began)
        await fleet.close()
    return statistics.median(timings)


class FleetProcess:
    """A fleet served by a child process, until closed."""

    def __init__(self, boxes: int) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(boxes), PASSWORD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.child.stdout is not None
        self.report = json.loads(self.child.stdout.readline())
        if self.report["boxes"] != boxes:
            raise RuntimeError(f"only {self.report['boxes']} of {boxes} boxes started")

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.write("\n")
        self.child.stdin.flush()
        self.child.wait(timeout=120)


async def sysbus_rate(box: dict[str, str], calls: int) -> float:
    url = f"http://{box['http']}/ws"
    async with aiohttp.ClientSession() as session:
        login = await session.post(
            url,
            json={
                "service": "sah.Device.Information",
                "method": "createContext",
                "parameters": {
                    "applicationName": "bench",
                    "username": "admin",
                    "password": PASSWORD,
                },
            },
            headers={
                "Authorization": "X-Sah-Login",
                "Content-Type": "application/x-sah-ws-1-call+json",
            },
        )
        context = (await login.json(content_type=None))["data"]["contextID"]
        body = {"service": "NeMo.Intf.dsl0", "method": "getDSLStats", "parameters": {}}
        headers = {"X-Context": context, "Content-Type": "application/x-sah-ws-1-call+json"}
        body = json.dumps(body).encode()

        async def client(count: int) -> None:
            for _ in range(count):
                async with session.post(url, data=body, headers=headers) as reply:
                    payload = await reply.json(content_type=None)
                    if "result" not in payload or payload["result"].get("errors"):
                        raise RuntimeError(f"sysbus call failed: {payload}")

        # Several connections in flight, as a fleet tool would have: one connection waiting
        # on each answer would measure the round trip, not what the server can serve.
        began = time.perf_counter()
        await asyncio.gather(*(client(calls // CLIENTS) for _ in range(CLIENTS)))
        return (calls // CLIENTS * CLIENTS) / (time.perf_counter() - began)


async def ssh_rate(box: dict[str, str], commands: int) -> float:
    host, port = box["ssh"].rsplit(":", 1)
    async with asyncssh.connect(
        host, int(port), username="admin", password=PASSWORD, known_hosts=None
    ) as connection:
        process = await connection.create_process(term_type=None)
        prompt = f"{box['name']}> "
        await process.stdout.readuntil(prompt)
        began = time.perf_counter()
        for _ in range(commands):
            process.stdin.write("Device.DeviceInfo.UpTime?\n")
            await process.stdout.readuntil(prompt)
        elapsed = time.perf_counter() - began
        process.stdin.write("exit\n")
        return commands / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--commands", type=int, default=2000)
    args = parser.parse_args()

    start = await box_start_s("optimale-pro-intense")
    print(f"one box: {start * 1000:.1f} ms to create and listen (median of 20)")
    fleet = FleetProcess(args.fleet)
    try:
        fleet_s, fleet_mb = fleet.report["start_s"], fleet.report["rss_mb"]
        print(
            f"{args.fleet} boxes: all listening after {fleet_s:.2f} s, {fleet_mb:.0f} MB resident"
        )
        first = fleet.report["first"]
        sysbus = await sysbus_rate(first, args.calls)
        print(f"sysbus: {sysbus:,.0f} getDSLStats calls/s over {CLIENTS} connections")
        ssh = await ssh_rate(first, args.commands)
        print(f"ssh: {ssh:,.0f} commands/s on one session")
    finally:
        fleet.close()
    print(
        f"RESULT box_start_s={start:.4f} fleet_start_s={fleet_s:.2f} fleet_rss_mb={fleet_mb:.0f} "
        f"sysbus_calls_per_s={sysbus:.0f} ssh_cmds_per_s={ssh:.0f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
