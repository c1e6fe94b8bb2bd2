"""FIDELITY.md: two runs of the same evaluation by other means (a `same_as` twin in a recipe) — agreement of
text and answer, McNemar, the paired MDE — and `also_runs`: another run root's evals on the same pages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runfab import make_run, simple_samples
from tiny import PROBLEMS
from tinyreason.analysis.fidelity import agreement
from tinyreason.analysis.loading import load_run
from tinyreason.answers import parse_gold
from tinyreason.cli import app

RECIPE = """\
vars: {rules: null, data: null}
runs: RUNS
results: PAGES
baseline: greedy
also_runs: [OTHER]
defaults:
  eval: {model: "${rules}", backend: scripted, data: "${data}", limit: 4}
experiments:
  - {name: greedy, kind: eval, config: {method: greedy}}
  - {name: greedy-b1, kind: eval, same_as: greedy, config: {method: greedy, method_options: {max_new_tokens: 64}}}
  - {name: greedy-b2, kind: eval, same_as: [greedy, greedy-b1], config: {method: greedy, method_options: {max_new_tokens: 32}}}
"""


def test_agreement_counts_text_answers_and_the_paired_test(tmp_path: Path) -> None:
    a = load_run(make_run(tmp_path / "a", simple_samples([0, 1, 2, 3], {0, 1})))
    b = load_run(make_run(tmp_path / "b", simple_samples([0, 1, 2, 3], {0, 2})))
    r = agreement(a, b)
    assert (r.n, r.same_answer, r.same_text, r.fixed, r.regressed, r.acc_a, r.acc_b) == (4, 2, 2, 1, 1, 0.5, 0.5)
    assert r.p_value == 1.0 and r.mde > 0


def test_a_same_as_twin_gets_a_fidelity_page_and_also_runs_join_the_leaderboard(gsm8k_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": q, "responses": [f"So #### {parse_gold(a)}"]} for q, a in PROBLEMS]))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("RUNS", str(tmp_path / "runs")).replace("PAGES", str(tmp_path / "pages")).replace("OTHER", str(tmp_path / "other")))
    args = ["reproduce", "--recipe", str(recipe), "--var", f"rules={rules}", "--var", f"data={gsm8k_file}", "--no-progress"]
    res = CliRunner().invoke(app, args, catch_exceptions=False, env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    page = (tmp_path / "pages" / "FIDELITY.md").read_text()
    assert "| greedy (scripted, batch 16) | greedy-b1 (scripted, batch 16) | 4 | 4 (100%) | 4 (100%) |" in page
    assert "| greedy (scripted, batch 16) | greedy-b2 (scripted, batch 16) |" in page  # a list of twins: a row for each
    assert "| greedy-b1 (scripted, batch 16) | greedy-b2 (scripted, batch 16) |" in page
    shutil.copytree(tmp_path / "runs" / "greedy", tmp_path / "other" / "copy")  # a run of another root (another prompt, say)
    res = CliRunner().invoke(app, [*args, "--pages-only"], catch_exceptions=False, env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "| copy |" in (tmp_path / "pages" / "LEADERBOARD.md").read_text()


def test_the_pngs_are_readable_n_shown_axis_fitted_labels_apart(tmp_path: Path) -> None:
    """leaderboard.png: n beside every run, the axis ends near the highest interval; pareto.png: no minor tick
    labels, and crowded point labels do not overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinyreason.analysis.plots import Point, _place_labels, accuracy_bars

    points = [Point(f"method-{i}", 0.2 + 0.003 * i, 0.17, 0.24 + 0.003 * i, 1000 + 20 * i, n=600 if i else 10) for i in range(6)]
    assert points[0].name == "method-0 (n=10)" and points[1].name == "method-1 (n=600)"
    accuracy_bars(points, tmp_path / "bars.png")
    fig, ax = plt.subplots()
    for p in points:
        ax.plot(p.tokens, p.accuracy * 100, "o")
    boxes = _place_labels(ax, fig, points)
    assert len(boxes) == 6 and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    plt.close(fig)


def test_a_replicated_row_reads_as_mean_and_spread_not_its_best_seed(tmp_path: Path) -> None:
    from tinyreason.analysis.leaderboard import write_leaderboard

    base = load_run(make_run(tmp_path / "greedy", simple_samples(list(range(20)), set(range(5)))))
    seeds = [load_run(make_run(tmp_path / f"grpo-eval-s{k}", simple_samples(list(range(20)), set(range(5 + k))))) for k in (1, 2, 3)]
    write_leaderboard([base, *seeds], base, tmp_path / "lb")
    page = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    assert "## Replicated rows" in page and "**grpo-eval** over 3 seeds: mean 35.0%, sd 5.0 pp, range 30.0%–40.0%" in page


def test_a_seed_axis_beside_the_recipes_own_seed_is_one_replicated_row_with_it(tmp_path: Path) -> None:
    """sft-eval (the recipe's seed) and sft-eval-s2, -s3 (a seed axis beside it) are three seeds of one row;
    a row of the same name asked another way (another method) is not one of them."""
    from tinyreason.analysis.leaderboard import build, replicated

    base = load_run(make_run(tmp_path / "greedy", simple_samples(list(range(20)), set(range(5)))))
    seeds = [load_run(make_run(tmp_path / name, simple_samples(list(range(20)), set(range(k)))))
             for name, k in (("sft-eval-s2", 6), ("sft-eval", 8), ("sft-eval-s3", 10))]
    ((group, members),) = replicated(build([base, *seeds], base))
    assert group == "sft-eval" and [r.name for r in members] == ["sft-eval", "sft-eval-s2", "sft-eval-s3"]  # the unsuffixed first
    other = make_run(tmp_path / "other" / "sft-eval", simple_samples(list(range(20)), set(range(8))))
    config = json.loads((other / "config.json").read_text())
    config["method"] = {**config["method"], "name": "sc", "n": 5}
    (other / "config.json").write_text(json.dumps(config))
    ((_, members),) = replicated(build([base, seeds[0], load_run(other), seeds[2]], base))
    assert [r.name for r in members] == ["sft-eval-s2", "sft-eval-s3"]


def test_a_run_by_other_means_keeps_its_verdict_marked_with_both_engines(tmp_path: Path) -> None:
    """A bf16 adapter eval against an int8 baseline is not like with like: the row says so (page and csv)."""
    import csv

    from tinyreason.analysis.leaderboard import write_leaderboard

    def run(name: str, right: set[int], weights: str) -> Path:
        path = make_run(tmp_path / name, simple_samples(list(range(40)), right))
        config = json.loads((path / "config.json").read_text())
        config["backend"] = {**config["backend"], "backend": "openvino", "weight_format": weights}
        (path / "config.json").write_text(json.dumps(config))
        return path

    base = load_run(run("greedy", set(range(5)), "int8"))
    same, other = load_run(run("sft-eval", set(range(20)), "int8")), load_run(run("sft-eval-bf16", set(range(20)), "bf16"))
    write_leaderboard([base, same, other], base, tmp_path / "lb")
    page = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    assert "than the baseline's (openvino int8)" in page
    rows = {line.split(" | ")[0].strip("| "): line for line in page.splitlines() if line.startswith("| sft-eval")}
    assert "**better**; *other means*: openvino bf16 |" in rows["sft-eval-bf16"] and "other means" not in rows["sft-eval"]
    table = {r["run"]: r for r in csv.DictReader((tmp_path / "lb" / "leaderboard.csv").open())}
    assert (table["sft-eval-bf16"]["engine"], table["sft-eval-bf16"]["other_means"], table["sft-eval"]["other_means"]) == ("openvino bf16", "True", "False")


def test_a_run_by_other_means_is_also_judged_like_with_like_against_the_baselines_twin(tmp_path: Path) -> None:
    """When the baseline was also run with bf16 weights, a bf16 row is compared with that run too: the verdict
    that holds with the engine taken out."""
    import csv

    from tinyreason.analysis.leaderboard import write_leaderboard

    def run(name: str, right: set[int], weights: str, method: str = "greedy") -> Path:
        path = make_run(tmp_path / name, simple_samples(list(range(40)), right))
        config = json.loads((path / "config.json").read_text())
        config["backend"] = {**config["backend"], "backend": "openvino", "weight_format": weights}
        config["method"] = {**config.get("method", {}), "name": method}
        (path / "config.json").write_text(json.dumps(config))
        return path

    base = load_run(run("greedy", set(range(5)), "int8"))
    twin = load_run(run("greedy-bf16", set(range(12)), "bf16"))
    close = load_run(run("sc-bf16", set(range(15)), "bf16", method="sc"))  # better than int8 greedy, level with its twin
    far = load_run(run("pal-sc-bf16", set(range(30)), "bf16", method="pal-sc"))
    write_leaderboard([base, twin, close, far], base, tmp_path / "lb")
    rows = {line.split(" | ")[0].strip("| "): line for line in (tmp_path / "lb" / "LEADERBOARD.md").read_text().splitlines() if line.startswith("| ")}
    assert "**better**; *other means*: openvino bf16; like with like vs greedy-bf16: +7.5 pp, p = 0.25, n.s. |" in rows["sc-bf16"]
    assert "like with like vs greedy-bf16: +45 pp, p = 7.6e-06, **better** |" in rows["pal-sc-bf16"]
    assert "like with like" not in rows["greedy-bf16"] and "like with like" not in rows["greedy"]  # the twin is not its own twin
    table = {r["run"]: r for r in csv.DictReader((tmp_path / "lb" / "leaderboard.csv").open())}
    assert (table["sc-bf16"]["like_with_like_vs"], table["sc-bf16"]["like_with_like_verdict"]) == ("greedy-bf16", "n.s.")
    assert table["greedy-bf16"]["like_with_like_vs"] == ""


def test_a_row_under_another_prompt_is_judged_like_with_like_against_the_baseline_under_that_prompt(tmp_path: Path) -> None:
    """Method × prompt: sc asked under a better prompt than the baseline's is compared with greedy under that same
    prompt (does voting help once the prompt is the same?); a prompt of the same name but another text is another
    prompt, so it finds no twin."""
    from tinyreason.analysis.leaderboard import write_leaderboard

    def run(name: str, right: set[int], method: str, prompt: str, text: str, weights: str = "int8") -> Path:
        path = make_run(tmp_path / name, simple_samples(list(range(40)), right))
        config = json.loads((path / "config.json").read_text())
        config["backend"] = {**config["backend"], "backend": "openvino", "weight_format": weights}
        config["method"] = {"name": method, "prompt": prompt, "max_new_tokens": 512, "seed": 42, **({"n": 5} if method == "sc" else {})}
        config["prompts"] = {prompt: {"system": None, "user": text + " {question}"}}
        (path / "config.json").write_text(json.dumps(config))
        return path

    base = load_run(run("greedy", set(range(5)), "greedy", "cot", "Solve."))
    good = load_run(run("greedy-good", set(range(20)), "greedy", "good", "Think."))
    sc_good = load_run(run("sc-good", set(range(22)), "sc", "good", "Think."))  # far above greedy under cot, level with greedy under "good"
    sc_cot = load_run(run("sc", set(range(6)), "sc", "cot", "Solve."))
    edited = load_run(run("sc-good-edited", set(range(22)), "sc", "good", "Think harder."))  # same name, another text
    base_bf16 = load_run(run("greedy-bf16", set(range(8)), "greedy", "cot", "Solve.", "bf16"))
    pal_bf16 = load_run(run("pal-bf16", set(range(9)), "pal", "pal", "Write a program.", "bf16"))  # greedy never ran under a program prompt
    write_leaderboard([base, good, sc_good, sc_cot, edited, base_bf16, pal_bf16], base, tmp_path / "lb")
    page = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in page.splitlines() if line.startswith("| ")}
    assert "| **better**; like with like vs greedy-good: +5 pp, p = 0.5, n.s. |" in rows["sc-good"]
    assert "other means" not in rows["sc-good"]  # the same engine: only the prompt differs
    assert "like with like" not in rows["sc"] and "like with like" not in rows["greedy-good"] and "like with like" not in rows["sc-good-edited"]
    assert "under the row's answer prompt (the baseline's: cot)" in page
    assert "*other means*: openvino bf16; like with like vs greedy-bf16: +2.5 pp, p = 1, n.s. |" in rows["pal-bf16"]  # by its engine alone
    matrix = page.split("## Method × prompt")[1].split("\n## ")[0]  # the settings asked under two prompts or more, a column per prompt
    assert "| method | model | engine | cot | good | good (text 2) |" in matrix
    assert "| greedy | fake-0.5b | openvino int8 | greedy: 12.5% | greedy-good: 50.0% | — |" in matrix
    assert "| sc n=5 | fake-0.5b | openvino int8 | sc: 15.0% (+2.5 pp, p = 1) | sc-good: 55.0% (+5 pp, p = 0.5) | sc-good-edited: 55.0% |" in matrix
    assert "pal" not in matrix and "bf16" not in matrix  # one prompt each: nothing to cross


def test_each_row_tested_against_the_baseline_gets_its_p_adjusted_for_how_many_were(tmp_path: Path) -> None:
    """Benjamini–Hochberg over the complete rows with a p (not the baseline): q ≥ p, and a row that looked
    significant alone can stop being so among many."""
    import csv

    from scipy.stats import false_discovery_control

    from tinyreason.analysis.leaderboard import build, write_leaderboard

    base = load_run(make_run(tmp_path / "greedy", simple_samples(list(range(60)), set(range(20)))))
    others = [load_run(make_run(tmp_path / f"m{k}", simple_samples(list(range(60)), set(range(20 + k))))) for k in (2, 3, 6, 14)]
    rows = build([base, *others], base)
    tested = [r for r in rows if r.p_value is not None]
    assert len(tested) == 4 and base.name not in {r.name for r in tested}
    want = dict(zip((r.name for r in tested), false_discovery_control([r.p_value for r in tested], method="bh")))
    assert all(r.q_value == pytest.approx(want[r.name]) and r.q_value >= r.p_value for r in tested)
    assert any(r.p_value < 0.05 <= r.q_value for r in tested)  # m6 (p = 0.031): significant alone, not among four
    write_leaderboard([base, *others], base, tmp_path / "lb")
    page = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    assert "| McNemar p | BH q | verdict |" in page and "for the 4 rows tested against the baseline" in page
    with (tmp_path / "lb" / "leaderboard.csv").open() as fh:
        got = {r["run"]: r["bh_q"] for r in csv.DictReader(fh)}
    assert got["greedy"] == "" and float(got["m6"]) == pytest.approx(want["m6"], rel=1e-5)
