"""The `bench` command. Module-level imports stay light (no torch, no pandas), so --help is instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bench.errors import EXIT_OK, BenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="Cost-performance profiler for fine-tuned transformer models: fine-tune, build variants, "
                       "measure accuracy, latency, throughput, memory and dollars, and report the Pareto frontier.")


def _console():
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:  # logs and CI: wide enough for the results table
        console = Console(stderr=True, width=170)
    return console


@app.command()
def run(suite: Annotated[str | None, typer.Argument(help="Suite name (in suites/) or path to a suite TOML file.")] = None,
        profile: Annotated[str | None, typer.Option(help="Hardware profile name or path; default: the suite's.")] = None,
        out: Annotated[Path, typer.Option(help="Root folder for run directories.")] = Path("results"),
        only: Annotated[list[str] | None, typer.Option(help="Measure only these variants (repeatable).")] = None,
        set_: Annotated[list[str] | None, typer.Option("--set", help="Override a suite key, e.g. --set finetune.epochs=2 (repeatable).")] = None,
        resume: Annotated[Path | None, typer.Option(help="Continue an interrupted run directory: measure only its missing cells.")] = None):
    """Fine-tune, build each variant, measure every cell, and write a new run directory with its report."""
    from bench.report.render import write_report
    from bench.report.terminal import print_summary
    from bench.runner import run_suite

    console = _console()
    if suite is None and resume is None:
        raise BenchError("name a SUITE (see `bench suites`) or give --resume RUN_DIR")
    run_dir, code = run_suite(suite, profile_name=profile, out_root=out, only=only, overrides=set_, resume=resume,
                              console=console)
    paths = write_report(run_dir)
    print_summary(run_dir, console)
    console.print(f"\nreport: [bold]{paths['html']}[/]\n        {paths['md']}\n        {paths['csv']}", soft_wrap=True)
    if code != EXIT_OK:
        console.print("[red]finished with failed cells (exit code 3); see 'Not measured' in the report")
    raise typer.Exit(code)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory written by `bench run`.")]):
    """Re-render report.md, report.html and cells.csv from the run's stored records alone."""
    from bench.report.render import write_report
    from bench.report.terminal import print_summary

    console = _console()
    paths = write_report(run_dir)
    print_summary(run_dir, console)
    console.print(f"\nreport: [bold]{paths['html']}[/]", soft_wrap=True)


@app.command()
def suites():
    """List the suites bench can find, one line each."""
    from bench.config import list_files, read_toml

    for path in list_files("suites"):
        raw = read_toml(path)
        typer.echo(f"{path.stem:16} {raw.get('description', '')}  [{path}]")


@app.command()
def profiles():
    """List the hardware profiles, one line each, with price and source."""
    from bench.config import list_files, load_profile

    for path in list_files("profiles"):
        p = load_profile(str(path))
        typer.echo(f"{p.name:18} {p.device:5} ${p.price_usd_per_hour:>8.4f}/h  {p.instance:22} {p.description}")


def main() -> None:
    try:
        # Without standalone mode click *returns* exit codes (typer.Exit, and 130 for Ctrl-C) instead of exiting.
        code = app(standalone_mode=False)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        import click

        if isinstance(e, click.exceptions.Abort):  # click's form of KeyboardInterrupt
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        if isinstance(e, click.ClickException):  # usage errors
            e.show()
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
