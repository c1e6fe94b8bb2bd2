"""The README's set-up is what a new user and CI run: two commands (install; test), CPU torch before the
project, CI's test command the README's, and the set-up says where a user without the Hub gets a model and data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Set-up")
    return readme[start : readme.index("\n## ", start)]


def _commands() -> list[str]:
    block = _setup().split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_setup_is_two_commands_and_cpu_torch_comes_before_the_project() -> None:
    install, test = _commands()
    assert "whl/cpu" in install and install.index("torch==") < install.index("pip install -e")
    assert "pytest" in test and "pip install" not in test


def test_ci_runs_the_readme_test_command() -> None:
    assert _commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_setup_says_where_a_model_and_data_come_from_without_the_hub() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = " ".join(readme[readme.index("## Set-up") : readme.index("## The main job")].split())
    assert "--model PATH --data PATH" in setup and "tinyreason fetch-model reference" in setup and "gsm8k:test" in setup


def _results_rows() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Results")
    section = readme[start : readme.index("\n## ", start + 1)]
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ") and ("--only " in line or "--out " in line)]


def _root(command: str) -> Path:
    """The run root a README command names (`--runs DIR`; the recipe's results/runs otherwise)."""
    import re

    given = re.search(r"--runs ([\w./-]+)", command)
    return ROOT / (given.group(1) if given else "results/runs")


def test_every_measured_row_of_the_results_table_is_what_its_committed_run_holds() -> None:
    """Nothing in the README's table that the tool did not produce: each 'k/n' row, recomputed from
    results/runs/<experiment> (or the `--out` directory its command names) over the first n questions of its
    subset (a run may since have grown)."""
    import json
    import re

    checked = 0
    for row in _results_rows():
        measured = re.search(r"\((\d+)/(\d+)\)", row[2])
        if row[3].endswith(" chains"):  # a verifier audit: "k of n ... chains judged right", from its audit file
            (audit,) = (_root(row[-1]) / re.search(r"--only ([\w-]+)", row[-1]).group(1)).glob("*.json")
            a = json.loads(audit.read_text())
            assert f"{a['correct']} of {a['total']} " in row[2] and row[3] == f"{a['total']} chains", row
            assert row[4] == "–".join(f"{100 * x:.0f}%" for x in a["ci95"]), row
            checked += 1
            continue
        seeds = re.fullmatch(r"(\d+) × (\d+)", row[3])
        if seeds:  # a replicated row: mean ± sd over the seed runs <experiment>-sK (and the unsuffixed run, when it has one), each at n questions
            import statistics

            k, n = int(seeds.group(1)), int(seeds.group(2))
            name = re.search(r"--only ([\w-]+)", row[-1]).group(1)
            members = [d for d in sorted(_root(row[-1]).iterdir()) if re.fullmatch(rf"{re.escape(name)}(-s\d+)?", d.name) and (d / "samples.jsonl").is_file()]
            assert len(members) == k, (row, [d.name for d in members])
            acc = []
            for run in members:
                run_rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
                assert len(run_rows) == n, run.name
                acc.append(100 * sum(r["correct"] for r in run_rows) / n)
            mean, sd = re.search(r"([\d.]+)% ± ([\d.]+) pp", row[2]).groups()
            assert abs(float(mean) - statistics.mean(acc)) < 0.06 and abs(float(sd) - statistics.stdev(acc)) < 0.06, (row, acc)
            assert f"range {min(acc):.1f}%–{max(acc):.1f}%" in row[2], (row, acc)
            checked += 1
            continue
        if not measured:
            assert "not run yet" in row[2], row
            continue
        only, out = re.search(r"--only ([\w-]+)", row[-1]), re.findall(r"--out ([\w./-]+)", row[-1])
        name = only.group(1) if only else out[-1]  # a recipe row's experiment, else the eval's run directory
        run = _root(row[-1]) / name if only else ROOT / name
        k, n = int(measured.group(1)), int(measured.group(2))
        ids = json.loads((run / "config.json").read_text())["subset"]["ids"][:n]
        rows = {r["id"]: r for r in map(json.loads, (run / "samples.jsonl").read_text().splitlines())}
        assert all(i in rows for i in ids), f"{name}: the run holds fewer than {n} of its subset's first questions"
        assert sum(rows[i]["correct"] for i in ids) == k, f"{name}: README says {k}/{n}"
        assert row[3] == str(n) and abs(float(re.sub(r"[*%]", "", row[2].split()[0])) - 100 * k / n) < 0.06, row
        assert round(sum(rows[i]["generated_tokens"] for i in ids) / n) == int(row[6]), f"{name}: tokens per question"
        checked += 1
    assert checked >= 7


def test_the_column_against_the_best_dev_prompt_is_what_the_runs_give() -> None:
    """The README's 'vs greedy under the best dev prompt' column, recomputed from the committed runs."""
    import math
    import re

    from tinyreason.analysis.loading import align, load_run
    from tinyreason.analysis.paired import transitions

    base = load_run(ROOT / "results" / "runs" / "greedy-best-dev")
    checked = 0
    for row in _results_rows():
        cell = row[7]
        m = re.fullmatch(r"([+−-]\d+\.\d) pp, p = ([\d.e-]+), .*", cell)
        if not m:
            continue
        only, out = re.search(r"--only ([\w-]+)", row[-1]), re.findall(r"--out ([\w./-]+)", row[-1])
        run = load_run(_root(row[-1]) / only.group(1) if only else ROOT / out[-1])
        t = transitions(align(base, run))
        assert f"{100 * t.delta:+.1f}".replace("-", "−") == m.group(1), (row[0], t.delta)
        assert math.isclose(t.p_value, float(m.group(2)), rel_tol=0.35), (row[0], t.p_value, m.group(2))  # as rounded in the README
        checked += 1
    assert checked >= 12
