"""Offline replay over RouterBench-format outcome matrices: loading, baselines, CLI, real data."""

from __future__ import annotations

import itertools
import json
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tierscope.collector.recommender.baselines import (
    frontier_model,
    hindsight_policy,
    oracle_picks,
    outcome_of,
)
from tierscope.collector.recommender.outcomes import interleave, load_outcomes
from tierscope.cli.replay import replay as replay_command
from tierscope.collector.recommender.replay import run_replay

def _routerbench() -> Path:
    """shared/ beside the checkout (as CI lays it out), else $TIERSCOPE_ROUTERBENCH, else /work/shared."""
    import os

    for candidate in (Path(__file__).resolve().parents[3] / "shared" / "data" / "routerbench",
                      Path(os.environ.get("TIERSCOPE_ROUTERBENCH", "/nonexistent")),
                      Path("/work/shared/data/routerbench")):
        if candidate.is_dir():
            return candidate
    return Path("/work/shared/data/routerbench")


ROUTERBENCH = _routerbench()
MODELS = ("big", "mid", "small")


def write_matrix(path: Path, role: str, rows: list[tuple[str, ...]]) -> Path:
    """rows: (quality_big, quality_mid, quality_small, cost_big, cost_mid, cost_small) as cell text."""
    header = ["sample_id", "prompt", "eval_name", *MODELS, *(f"{m}|total_cost" for m in MODELS),
              "oracle_model_to_route_to"]
    lines = [",".join(header)]
    for i, cells in enumerate(rows):
        lines.append(",".join([f"{role}.{i}", f'"[\'q{i}\']"', role, *cells, "small"]))
    path.write_text("\n".join(lines) + "\n")
    return path


def synthetic(tmp_path: Path, n: int = 300, seed: int = 0) -> list[Path]:
    """Two roles: 'easy' (small is as good as big) and 'hard' (only big is good)."""
    rng = np.random.default_rng(seed)
    paths = []
    for role, quality in (("easy", (0.95, 0.93, 0.92)), ("hard", (0.9, 0.5, 0.2))):
        rows = []
        for _ in range(n):
            q = [str(float(rng.random() < p)) for p in quality]
            rows.append((*q, "0.01", "0.002", "0.0005"))
        paths.append(write_matrix(tmp_path / f"{role}.csv", role, rows))
    return paths


def test_blank_cells_are_missing_not_zero(tmp_path: Path) -> None:
    path = write_matrix(tmp_path / "m.csv", "r", [
        ("1.0", "", "0.0", "0.0042639999999999996", "0.002", "0.001"),
        ("1.0", "1.0", "0.0", "0.01", "", "0.001"),
        ("1.0", "1.0", "0.0", "0.01", "0.002", "0.001"),
    ])
    matrix = load_outcomes(path)
    assert matrix.models == MODELS
    assert np.isnan(matrix.quality[0, 1]) and matrix.quality[0, 2] == 0.0
    assert matrix.observed.tolist() == [[True, False, True], [True, False, True], [True, True, True]]
    assert matrix.complete.tolist() == [False, False, True]
    # A model with no outcome at all for a role is not one of its arms, so it does not block rows.
    assert matrix.take(np.array([0, 1])).complete.tolist() == [True, True]
    assert matrix.cost_usd[0, 0] == Decimal("0.0042639999999999996")  # the cell text, exactly
    assert matrix.cost_usd[1, 1] is None


def test_malformed_files_are_rejected(tmp_path: Path) -> None:
    bad = write_matrix(tmp_path / "bad.csv", "r", [("1.0", "yes", "0.0", "0.01", "0.002", "0.001")])
    with pytest.raises(ValueError, match="non-numeric"):
        load_outcomes(bad)
    (tmp_path / "norole.csv").write_text("a,b|total_cost\n1,2\n")
    with pytest.raises(ValueError, match="eval_name"):
        load_outcomes(tmp_path / "norole.csv")


def test_interleave_is_round_robin_by_row(tmp_path: Path) -> None:
    one = write_matrix(tmp_path / "a.csv", "a", [("1", "1", "1", "1", "1", "1")] * 3)
    two = write_matrix(tmp_path / "b.csv", "b", [("0", "0", "0", "1", "1", "1")] * 1)
    matrix = interleave([load_outcomes(one), load_outcomes(two)])
    assert matrix.roles.tolist() == ["a", "b", "a", "a"]


def test_baselines_are_exact(tmp_path: Path) -> None:
    matrix = interleave([load_outcomes(p) for p in synthetic(tmp_path, n=40)])
    assert frontier_model(matrix) == "big"
    policy = hindsight_policy(matrix, "big", 0.9)
    # Brute force over all role -> model assignments.
    roles = matrix.role_names
    frontier_quality = matrix.quality[:, 0].sum()
    best = min(
        (sum(matrix.cost[matrix.roles == r, k].sum() for r, k in zip(roles, combo)), combo)
        for combo in itertools.product(range(3), repeat=len(roles))
        if sum(matrix.quality[matrix.roles == r, k].sum() for r, k in zip(roles, combo)) >= 0.9 * frontier_quality
    )
    assert policy == {r: MODELS[k] for r, k in zip(roles, best[1])}
    picks = oracle_picks(matrix)
    for row, pick in enumerate(picks):
        best_quality = matrix.quality[row].max()
        assert matrix.quality[row, pick] == best_quality
        assert matrix.cost[row, pick] == matrix.cost[row, matrix.quality[row] == best_quality].min()
    assert outcome_of(matrix, picks).mean_quality == matrix.quality.max(axis=1).mean()


def test_replay_reports_the_documented_shape_and_is_deterministic(tmp_path: Path) -> None:
    paths = synthetic(tmp_path)
    report = run_replay(paths, None, quality_target=0.9, seed=3)
    assert report["policy"] == {"easy": "small", "hard": "big"}
    assert set(report) >= {"policy", "online", "final", "baselines", "recommendation", "settings"}
    assert set(report["baselines"]) == {"frontier", "hindsight", "oracle"}
    assert report["baselines"]["hindsight"]["policy"] == {"easy": "small", "hard": "big"}
    for section in ("online", "final"):
        for name in ("frontier", "hindsight", "oracle"):
            assert f"cost_ratio_vs_{name}" in report[section] and f"quality_ratio_vs_{name}" in report[section]
    assert report["online"]["walked_prompts"] == 600
    assert sum(sum(c.values()) for c in report["online"]["picks"].values()) == 600
    again = run_replay(paths, None, quality_target=0.9, seed=3)
    assert json.dumps(report, sort_keys=True) == json.dumps(again, sort_keys=True)


def test_a_model_missing_on_a_prompt_is_never_picked_there(tmp_path: Path) -> None:
    rows = [("1.0", "1.0", "", "0.01", "0.002", "0.0005")] * 60  # small has no outcomes at all
    path = write_matrix(tmp_path / "m.csv", "r", rows)
    report = run_replay([path], None, quality_target=0.9, seed=0)
    assert set(report["online"]["picks"]["r"]) <= {"big", "mid"}
    assert report["policy"] == {"r": "mid"}


def test_eval_files_score_the_final_policy(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "eval").mkdir()
    train = synthetic(tmp_path / "train", seed=1)
    evaluation = synthetic(tmp_path / "eval", n=50, seed=2)
    report = run_replay(train, evaluation, quality_target=0.9, seed=0)
    assert report["final"]["prompts"] == 100
    assert report["baselines"]["frontier"]["prompts"] == 100
    assert report["online"]["baselines"]["frontier"]["prompts"] == 600


def test_cli_json_table_and_clean_errors(tmp_path: Path) -> None:
    paths = [str(p) for p in synthetic(tmp_path)]
    runner = CliRunner()
    result = runner.invoke(replay_command, [*paths, "--quality-target", "0.9", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["policy"] == {"easy": "small", "hard": "big"}
    table = runner.invoke(replay_command, [*paths, "--quality-target", "0.9", "--format", "table"])
    assert table.exit_code == 0 and "hindsight" in table.output and "easy" in table.output
    (tmp_path / "junk.csv").write_text("x,y\n1,2\n")
    failed = runner.invoke(replay_command, [str(tmp_path / "junk.csv")])
    assert failed.exit_code == 1 and "Error:" in failed.output and "Traceback" not in failed.output


def test_cli_eval_takes_one_file_per_flag_and_refuses_a_bare_path_after_it(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "eval").mkdir()
    train = [str(p) for p in synthetic(tmp_path / "train", seed=1)]
    first, second = (str(p) for p in synthetic(tmp_path / "eval", n=50, seed=2))
    runner = CliRunner()
    both = runner.invoke(replay_command, [*train, "--eval", first, "--eval", second, "--quality-target", "0.9"])
    assert both.exit_code == 0, both.output
    assert json.loads(both.output)["final"]["prompts"] == 100  # 50 prompts in each evaluation file
    bare = runner.invoke(replay_command, [*train, "--eval", first, second, "--quality-target", "0.9"])
    assert bare.exit_code == 2 and "stands after --eval" in bare.output and second in bare.output
    assert "Traceback" not in bare.output


@pytest.mark.skipif(not ROUTERBENCH.is_dir(), reason="shared RouterBench files not present")
def test_safe_replay_on_routerbench_with_held_back_prompts() -> None:
    """Seed 1, the last 30% of each file held back: learning keeps >= 0.95 of frontier quality, and the
    final policy keeps its stated promise on the prompts it never saw, at a third of the cost."""
    paths = sorted(ROUTERBENCH.glob("*.csv"))
    assert len(paths) == 3
    started = time.perf_counter()
    report = run_replay(paths, None, quality_target=0.95, seed=1, holdout=0.3)
    elapsed = time.perf_counter() - started
    assert report["settings"]["frontier_model"] == "gpt-4-1106-preview"
    assert report["online"]["walked_prompts"] == 727 + 209 + 621
    assert report["final"]["prompts"] == report["baselines"]["frontier"]["prompts"] == 663  # 668 held back, 5 incomplete rows
    assert report["online"]["quality_ratio_vs_frontier"] >= 0.95
    assert report["policy"] == {"arc-challenge": "zero-one-ai/Yi-34B-Chat", "mbpp": "gpt-3.5-turbo-1106",
                                "winogrande": "gpt-4-1106-preview"}
    assert round(report["final"]["quality_ratio_vs_frontier"], 4) == 0.9559
    assert round(report["final"]["cost_ratio_vs_frontier"], 3) == 0.329
    promise = report["calibration"]
    assert promise["met_target"] and 0.8 <= promise["claimed_probability"] < 0.9
    assert elapsed < 20
    assert json.dumps(run_replay(paths, None, quality_target=0.95, seed=1, holdout=0.3)) == json.dumps(report)


def test_cli_reports_calibration_over_seeds(tmp_path: Path) -> None:
    paths = [str(p) for p in synthetic(tmp_path)]
    runner = CliRunner()
    result = runner.invoke(replay_command, [*paths, "--quality-target", "0.9", "--holdout", "0.3", "--seeds", "0:3"])
    assert result.exit_code == 0, result.output
    sweep = json.loads(result.output)
    assert [r["seed"] for r in sweep["runs"]] == [0, 1, 2]
    claimed = [r["claimed_probability"] for r in sweep["runs"]]
    met = [r["met_target"] for r in sweep["runs"]]
    assert sweep["calibration"]["mean_claimed"] == round(sum(claimed) / 3, 6)
    assert sweep["calibration"]["observed_rate"] == round(sum(met) / 3, 6)
    table = runner.invoke(replay_command, [*paths, "--holdout", "0.3", "--holdout-random", "--seeds", "0:2",
                                           "--format", "table"])
    assert table.exit_code == 0 and "calibration over 2 runs" in table.output
    bad = runner.invoke(replay_command, [*paths, "--seeds", "3"])
    assert bad.exit_code == 2 and "START:STOP" in bad.output
