"""The `livebox provision` command: a site or an inventory, one result per box, a clear verdict."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from profiles.catalogue import DataFileError, UnknownOfferError
from provisioning.flow import CONFIRM_S, BoxResult
from provisioning.inventory import load_inventory
from provisioning.runner import Job, RunResult, run, site_jobs, write_report
from provisioning.session import Timeouts
from provisioning.site import SiteError


@click.command("provision")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--limit", help="Only the boxes whose name (or group:NAME) matches this pattern.")
@click.option("--check", is_flag=True, help="Show what would change; change nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Show each box's changes.")
@click.option("--concurrency", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--canary", default=1, show_default=True, type=click.IntRange(0), help="Boxes first.")
@click.option(
    "--max-failures",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Stop starting boxes once more than this many have failed.",
)
@click.option(
    "--confirm-timeout",
    default=CONFIRM_S,
    show_default=True,
    type=click.IntRange(10, 86400),
    help="Seconds the box waits for the confirm before reverting by itself (SSH).",
)
@click.option("--rewrite-secrets", is_flag=True, help="Write passwords even if the box has one.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--connect-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1))
@click.option("--command-timeout", default=15.0, show_default=True, type=click.FloatRange(0.1))
def provision_command(
    inventory: Path,
    limit: str | None,
    check: bool,
    show_diff: bool,
    concurrency: int,
    canary: int,
    max_failures: int,
    confirm_timeout: int,
    rewrite_secrets: bool,
    json_file: Path | None,
    junit_file: Path | None,
    connect_timeout: float,
    command_timeout: float,
) -> None:
    """Configure boxes from a site file or an inventory of sites, safely.

    Each box: read it, show the diff against the site, apply it in one transaction
    (commit confirm over SSH; write by write with an emulated rollback over sysbus),
    verify (read back, DSL within the offer, WAN up with the fixed IP), then confirm or roll
    back. The exit status is 0 only when every box succeeded.
    """
    timeouts = Timeouts(connect=connect_timeout, login=connect_timeout, command=command_timeout)
    try:
        sites = load_inventory(inventory)
        selected = sites.select(limit) if limit else sites.sites
        jobs = site_jobs(
            selected,
            check=check,
            confirm_s=confirm_timeout,
            rewrite_secrets=rewrite_secrets,
            timeouts=timeouts,
        )
    except (SiteError, DataFileError, UnknownOfferError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if not jobs:
        raise click.ClickException(f"no box of {inventory} matches --limit {limit!r}")
    console = Console(stderr=True)
    outcome = asyncio.run(
        _run_with_progress(jobs, console, concurrency, canary, max_failures, show_diff or check)
    )
    _summary(Console(), outcome, check)
    if json_file:
        write_report(json_file, outcome.to_json())
    if junit_file:
        write_report(junit_file, outcome.to_junit())
    if not outcome.ok:
        raise SystemExit(1)


async def _run_with_progress(
    jobs: list[Job],
    console: Console,
    concurrency: int,
    canary: int,
    max_failures: int,
    show_diff: bool,
) -> RunResult:
    with Progress(
        TextColumn("provisioning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("boxes", total=len(jobs))

        def done(result: BoxResult) -> None:
            progress.advance(task)
            if show_diff and result.diff:
                progress.console.print(f"[bold]{result.name}[/bold]")
                for line in result.diff:
                    progress.console.print(
                        f"  {line}", markup=False, highlight=False, soft_wrap=True
                    )
            if result.trusted_new_host_key:
                progress.console.print(
                    f"{result.name}: host key not known before: trusted on first use and saved"
                )

        return await run(
            jobs, concurrency=concurrency, canary=canary, max_failures=max_failures, on_done=done
        )


def _summary(console: Console, outcome: RunResult, check: bool) -> None:
    table = Table(title="check: nothing was changed" if check else None, title_justify="left")
    for column in ("box", "via", "result", "changes", "verdict", "s"):
        table.add_column(column, justify="right" if column in ("changes", "s") else "left")
    for r in outcome.results.values():
        if r.skipped:
            state = "[yellow]skipped[/yellow]"
        elif r.failed:
            state = "[red]failed[/red]"
        elif check:
            state = "would change" if r.diff else "in sync"
        else:
            state = "[green]changed[/green]" if r.changed else "ok"
        verdict = r.verdict
        if check and not r.failed and not r.skipped:
            verdict = f"{len(r.diff)} changes to apply" if r.diff else "nothing to change"
        table.add_row(r.name, r.transport, state, str(len(r.diff)), verdict, f"{r.seconds:.1f}")
    console.print(table)
    failed, skipped = len(outcome.failed), len(outcome.skipped)
    total = len(outcome.results)
    counts = f"{total} boxes: {total - failed - skipped} ok, {failed} failed, {skipped} skipped"
    console.print(counts + (f"; stopped: {outcome.stopped}" if outcome.stopped else ""))
