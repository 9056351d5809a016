"""Many boxes: bounded concurrency, a canary batch first, a failure budget, one result each."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from profiles.catalogue import Catalogue
from profiles.datamodel import DataModel
from provisioning.connect import connect
from provisioning.desired import desired_state
from provisioning.flow import CONFIRM_S, BoxResult, provision
from provisioning.session import Timeouts
from provisioning.site import Site

#: Provisions one box; what `run` calls for each job.
Job = tuple[str, Callable[[], Awaitable[BoxResult]]]


@dataclass
class RunResult:
    """The result of every box, in inventory order, and why the run stopped early, if it did."""

    results: dict[str, BoxResult] = field(default_factory=dict)
    stopped: str | None = None

    @property
    def failed(self) -> set[str]:
        """The boxes that failed (Nornir's `failed_hosts`)."""
        return {name for name, r in self.results.items() if r.failed}

    @property
    def skipped(self) -> set[str]:
        return {name for name, r in self.results.items() if r.skipped}

    @property
    def ok(self) -> bool:
        """True when every box succeeded (none failed, none skipped)."""
        return not self.failed and not self.skipped

    def to_json(self) -> str:
        boxes = [
            {**asdict(r), "checks": [asdict(c) for c in r.checks], "verdict": r.verdict}
            for r in self.results.values()
        ]
        return json.dumps({"ok": self.ok, "stopped": self.stopped, "boxes": boxes}, indent=2)

    def to_junit(self) -> str:
        """A JUnit XML report: one test case per box."""
        suite = ET.Element(
            "testsuite",
            name="livebox provision",
            tests=str(len(self.results)),
            failures=str(len(self.failed)),
            skipped=str(len(self.skipped)),
            time=f"{sum(r.seconds for r in self.results.values()):.3f}",
        )
        for result in self.results.values():
            case = ET.SubElement(
                suite,
                "testcase",
                classname="provision",
                name=result.name,
                time=f"{result.seconds:.3f}",
            )
            if result.failed:
                ET.SubElement(case, "failure", message=result.verdict).text = "\n".join(
                    result.diff
                    + [f"{c.name}: {'ok' if c.ok else 'FAILED'}: {c.detail}" for c in result.checks]
                )
            elif result.skipped:
                ET.SubElement(case, "skipped", message=result.verdict)
            else:
                ET.SubElement(case, "system-out").text = "\n".join([result.verdict, *result.diff])
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def site_jobs(
    sites: Mapping[str, Site],
    *,
    check: bool = False,
    confirm_s: int = CONFIRM_S,
    rewrite_secrets: bool = False,
    timeouts: Timeouts | None = None,
) -> list[Job]:
    """One job per site, its desired state worked out (and checked) before any connection.

    Raises SiteError (or DataFileError) for the first site that is wrong.
    """
    catalogue = Catalogue.load()
    model = DataModel.load()
    jobs: list[Job] = []
    for name, site in sites.items():
        offer = catalogue.offer(site.offer)
        desired = desired_state(site, offer, model)
        target = site.target(name)
        job = partial(
            provision,
            name,
            partial(connect, target, timeouts),
            desired,
            offer,
            check=check,
            confirm_s=confirm_s,
            rewrite_secrets=rewrite_secrets,
            transport=target.transport,
        )
        jobs.append((name, job))
    return jobs


async def run(
    jobs: Sequence[Job],
    *,
    concurrency: int = 10,
    canary: int = 1,
    max_failures: int = 0,
    on_done: Callable[[BoxResult], None] | None = None,
) -> RunResult:
    """Provision every job: the first `canary` ones first; if one of them fails, stop.
    Then the rest, `concurrency` at a time, until more than `max_failures` have failed:
    then no new box is started, and the boxes not started are reported skipped.
    """
    if concurrency < 1 or canary < 0 or max_failures < 0:
        raise ValueError("concurrency must be at least 1; canary and max_failures at least 0")
    outcome = RunResult()
    for name, _ in jobs:
        outcome.results[name] = BoxResult(name, transport="-", skipped=True, error="not started")

    def record(result: BoxResult) -> None:
        outcome.results[result.name] = result
        if on_done is not None:
            on_done(result)

    async def batch(queue: Iterator[Job], stop_after: int | None) -> None:
        failures = 0

        async def worker() -> None:
            nonlocal failures
            for _, job in queue:
                if outcome.stopped:
                    return
                result = await job()
                record(result)
                if result.failed:
                    failures += 1
                    if stop_after is not None and failures > stop_after:
                        outcome.stopped = (
                            f"failure budget spent: {failures} boxes failed, "
                            f"{stop_after} allowed (--max-failures)"
                        )

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    first, rest = list(jobs[:canary]), list(jobs[canary:])
    await batch(iter(first), stop_after=None)
    failed_canaries = [name for name, _ in first if outcome.results[name].failed]
    if failed_canaries:
        outcome.stopped = f"the canary batch failed ({', '.join(failed_canaries)})"
    else:
        await batch(iter(rest), stop_after=max_failures)
    for result in outcome.results.values():
        if result.skipped and result.error == "not started":
            result.error = f"not started: {outcome.stopped}"
    return outcome


def write_report(path: Path, text: str) -> None:
    path.write_text(text + "\n", encoding="utf-8")
