"""`tierscope replay`: replay the routing recommender over RouterBench-format outcome files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tierscope.cli.app import main
from tierscope.collector.recommender.replay import replay_table, run_replay, run_seeds, seeds_table
from tierscope.collector.recommender.types import BanditConfig
from tierscope.terms import DEFAULT_QUALITY_TARGET


class _FilesBeforeOptions(click.Command):
    """Refuses a bare path after `--eval FILE`: `--eval X.csv Y.csv` would otherwise train on Y.csv
    silently, since click takes every bare argument as a training file wherever it stands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        valued = {o for p in self.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
        after_eval, skip = False, False
        for arg in args:
            if skip:
                skip = False
            elif arg == "--":
                break
            elif arg.startswith("-"):
                name = arg.split("=", 1)[0]
                after_eval = after_eval or name == "--eval"
                skip = name in valued and "=" not in arg
            elif after_eval:
                raise click.UsageError(f"{arg!r} stands after --eval: give each evaluation file its own --eval "
                                       "(--eval a.csv --eval b.csv), and the files to replay before the options",
                                       ctx)
        return super().parse_args(ctx, args)


@main.command("replay", cls=_FilesBeforeOptions)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--eval", "eval_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Outcome CSV to score the final policy on; repeat for several (--eval a.csv --eval b.csv) [the replayed files].")
@click.option("--quality-target", default=DEFAULT_QUALITY_TARGET, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Overall quality as a fraction of always-frontier quality.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bandit's random draws.")
@click.option("--window", default=None, type=click.IntRange(min=2),
              help="Forgetting window in calls per role (default: never forget).")
@click.option("--min-evidence", default=BanditConfig.min_evidence, show_default=True, type=click.IntRange(min=0),
              help="Quality observations an arm needs before the policy moves a role onto it.")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Hold back this share of every file (its last rows) as new prompts for the final score.")
@click.option("--holdout-random", is_flag=True, help="Hold back a random part instead, drawn per seed.")
@click.option("--seeds", "seed_range", default=None, metavar="START:STOP",
              help="Replay every seed in START:STOP (STOP excluded) and report calibration: the claimed "
                   "chance of meeting the target against the observed rate.")
@click.option("--format", "output_format", type=click.Choice(["json", "table"]), default="json", show_default=True)
def replay(
    files: tuple[Path, ...],
    eval_files: tuple[Path, ...],
    quality_target: float,
    seed: int,
    window: int | None,
    min_evidence: int,
    holdout: float | None,
    holdout_random: bool,
    seed_range: str | None,
    output_format: str,
) -> None:
    """Replay the routing recommender over RouterBench-format outcome CSVs (bandit feedback).

    Prints the recommended role -> model policy, the online cost and quality while learning,
    and the final policy's cost and quality against always-frontier, the best fixed per-role
    assignment in hindsight and the per-prompt oracle, with the chance of meeting the target it
    claimed and whether it did. With --seeds, one line per seed and the calibration over them.
    """
    options = {"quality_target": quality_target, "window": window, "min_evidence": min_evidence, "holdout": holdout}
    if holdout_random and holdout is None:
        raise click.UsageError("--holdout-random needs --holdout")
    try:
        if seed_range is not None:
            sweep = run_seeds(list(files), list(eval_files) or None, _seeds(seed_range),
                              holdout_random=holdout_random, **options)
            click.echo(json.dumps(sweep, indent=2) if output_format == "json" else seeds_table(sweep))
            return
        report = run_replay(list(files), list(eval_files) or None, seed=seed,
                            holdout_seed=seed if holdout_random else None, **options)
    except (ValueError, KeyError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(report, indent=2) if output_format == "json" else replay_table(report))


def _seeds(text: str) -> range:
    try:
        start, stop = (int(part) for part in text.split(":"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not START:STOP, e.g. 0:32", param_hint="--seeds") from None
    if not 0 <= start < stop:
        raise click.BadParameter("--seeds needs 0 <= START < STOP", param_hint="--seeds")
    return range(start, stop)
