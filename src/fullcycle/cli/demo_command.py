"""`fullcycle demo`: a server with the demo running in it (src/fullcycle/demo/, docs/demo.md)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import typer

from fullcycle.cli.server_commands import local_settings, serve

DEFAULT_DEMO_DIR = Path(".fullcycle-demo")


def _seconds(text: str, option: str) -> float:
    from fullcycle.demo.provisioning import parse_seconds

    if text in ("0", "never"):
        return 0.0
    try:
        return parse_seconds(text)
    except ValueError:
        typer.echo(
            f"error: {option}: {text!r} is not a duration like 90s, 30m, 6h or 14d", err=True
        )
        raise typer.Exit(2) from None


def demo(
    speed: float = typer.Option(
        1.0,
        "--speed",
        min=0.01,
        max=10_000,
        help="How much faster the shop's day runs: at 24 a day lasts an hour (default 1: real "
        "time). Also shortens the scheduled scenario's interval and the pipeline's bake time.",
    ),
    port: int = typer.Option(8080, "--port", help="fullcycle's port."),
    data_dir: Path = typer.Option(
        DEFAULT_DEMO_DIR,
        "--data-dir",
        help="Where the demo keeps its data (a fresh one is set up).",
    ),
    shop_port: int = typer.Option(8100, "--shop-port", help="The sample shop's port."),
    backfill: str = typer.Option(
        "14d", "--backfill", help="How much shop history to send before it starts (0: none)."
    ),
    scenario_every: str = typer.Option(
        "30m",
        "--scenario-every",
        help="Run the bad-release scenario by itself this often, in shop time (0: only from the "
        "button on /demo or POST /api/v1/demo/scenario).",
    ),
) -> None:
    """Run fullcycle with a demo: a catalog, the sample shop deployed and bought from, weeks of
    history, and a bad release that fullcycle catches and rolls back (docs/demo.md)."""
    from fullcycle.app import create_app
    from fullcycle.demo.orchestrator import Demo, DemoOptions
    from fullcycle.demo.routes import api_router, page_router
    from fullcycle.selfmonitoring.json_logs import configure_logging

    options = DemoOptions(
        speed=speed,
        shop_port=shop_port,
        backfill_seconds=_seconds(backfill, "--backfill"),
        scenario_every_seconds=_seconds(scenario_every, "--scenario-every"),
    )
    settings = local_settings(data_dir=data_dir, port=port)
    demo_runner = Demo(settings.data_dir, settings.base_url, options, settings.admin_token)
    settings = dataclasses.replace(settings, admin_token=demo_runner.admin_token)
    configure_logging("WARNING")
    app = create_app(settings)
    app.state.demo = demo_runner
    app.include_router(api_router)
    app.include_router(page_router)
    typer.echo(f"starting the fullcycle demo at {settings.base_url} (data in {data_dir}) …")
    demo_runner.start(lambda text: print(text, file=sys.stdout, flush=True))
    try:
        serve(app, settings)
    finally:
        demo_runner.stop()


def register(app: typer.Typer) -> None:
    app.command("demo", rich_help_panel="Run a server (on this machine)")(demo)
