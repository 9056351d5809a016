"""The `livebox lab` commands: run scenarios with a live view and reports, list them, the schema."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from emulator.sip.pcap import PcapTap
from labs.report import render_summary, write_html, write_json, write_junit
from labs.results import LabResult, StepResult
from labs.runner import LabRun
from labs.scenario import Scenario, ScenarioError, load_scenario, scenario_schema

#: The scenarios shipped with livebox-lab.
SHIPPED = Path(__file__).with_name("scenarios")
#: What `livebox lab run` plays with no argument.
DEFAULT = "technician-install"


def shipped() -> list[Path]:
    return sorted(SHIPPED.glob("*.yaml"))


def resolve(name: str) -> Path:
    """A scenario file, or the name of a shipped scenario."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    candidate = SHIPPED / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(p.stem for p in shipped())
    raise click.BadParameter(f"no scenario file or shipped scenario {name!r}; shipped: {known}")


@click.group("lab")
def lab() -> None:
    """Lab scenarios: a bench of emulated boxes and phones, played in simulated time."""


@lab.command("list")
def list_scenarios() -> None:
    """The shipped scenarios and what each one does."""
    for path in shipped():
        scenario = load_scenario(path)
        click.echo(f"{scenario.name:22} {scenario.description or ''}")


@lab.command("schema")
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors)."""
    click.echo(json.dumps(scenario_schema(), indent=2))


@lab.command("run")
@click.argument("scenarios", nargs=-1)
@click.option(
    "--junit", "junit", type=click.Path(dir_okay=False, path_type=Path), help="JUnit XML."
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="JSON.")
@click.option(
    "--html", "html", type=click.Path(dir_okay=False, path_type=Path), help="HTML report."
)
@click.option(
    "--pcap", "pcap", type=click.Path(dir_okay=False, path_type=Path), help="The SIP traffic."
)
@click.option("--quiet", "-q", is_flag=True, help="No live view; the summary only.")
def run_command(
    scenarios: tuple[str, ...],
    junit: Path | None,
    json_path: Path | None,
    html: Path | None,
    pcap: Path | None,
    quiet: bool,
) -> None:
    """Play SCENARIOS (files, or names of shipped ones; the default one with none).

    Each scenario builds its bench (emulated boxes served on loopback, the operator core, virtual
    phones), plays its steps in simulated time and checks its expectations. The exit status is 0
    only when every expectation of every scenario held.
    """
    paths = [resolve(name) for name in scenarios] or [SHIPPED / f"{DEFAULT}.yaml"]
    loaded: list[Scenario] = []
    for path in paths:
        try:
            loaded.append(load_scenario(path))
        except ScenarioError as exc:
            raise click.ClickException(str(exc)) from None
    console = Console(stderr=True, quiet=quiet)
    tap = PcapTap() if pcap else None
    results = asyncio.run(_run_all(loaded, console, tap))
    render_summary(results, Console())
    for report, writer in ((json_path, write_json), (junit, write_junit), (html, write_html)):
        if report is not None:
            writer(results, report)
            console.print(f"wrote {report}")
    if tap is not None and pcap is not None:
        console.print(f"wrote {pcap} ({tap.write(pcap)} SIP packets)")
    sys.exit(0 if all(result.ok for result in results) else 1)


async def _run_all(
    scenarios: list[Scenario], console: Console, tap: PcapTap | None
) -> list[LabResult]:
    results = []
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[scenario]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        for scenario in scenarios:
            task = progress.add_task(
                "building the bench", total=len(scenario.steps), scenario=scenario.name
            )

            def advance(step: StepResult, task: TaskID = task) -> None:
                mark = {True: "[green]met", False: "[red]NOT MET", None: ""}[step.ok]
                progress.update(task, advance=1, description=f"{step.kind} {mark}")

            results.append(await LabRun(scenario, tap=tap, progress=advance).run())
    return results
