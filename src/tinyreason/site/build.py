"""Build the static site: a leaderboard, every run's questions, every question's raw generations, two runs side
by side, and the training curves — from run directories alone, self-contained (no network, no CDN, no build
step), so it opens from disk on an offline machine.

    build_site(["results/runs/greedy", "results/runs/sc", "results/runs/sft"], "site")   # -> site/index.html

Layout of the site:
    index.html                  leaderboard: accuracy with its 95% interval drawn, Δ and McNemar p against the
                                baseline, tokens per question, verdict, incomplete runs marked; sortable; grouped
                                by run root (method × prompt where the study has both); like with like: each row
                                against the baseline's method by the row's engine and under its prompt, if run;
                                an experiment run under several seeds also as one row: mean, sd, range over seeds
    run-<slug>.html             a run: its config (prompt text, backend, model, versions) and every question,
                                filterable (#filter=wrong|truncated|noanswer|disagree|errors) and searchable;
                                #q=<id> shows one question: every generation's raw text, extracted answers, the
                                vote, programs with their sandbox status and output, reflections, verdicts
    data/<slug>.js              the run's questions as data (loaded by a script tag: works from file://)
    compare-<a>--<b>.html       two runs: the 2x2 transitions and the fixed / regressed questions, both chains side by side
    training.html               SFT loss, GRPO's watched metrics, the memorization audit's chains beside their targets

Everything from a model or a dataset is escaped: Jinja2 autoescapes the pages, and the scripts only ever set
model text through textContent.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from tinyreason.analysis.leaderboard import baseline_runs, seed_groups, spread, twin_of
from tinyreason.analysis.loading import AnalysisError, Run, align, load_run
from tinyreason.analysis.paired import transitions, verdict
from tinyreason.runs import RunDir, RunError
from tinyreason.site.charts import interval_svg, line_chart
from tinyreason.stats import wilson_interval

GEN_EXTRA = ("program", "program_status", "program_stdout", "program_error", "verdict", "format_ok", "error")


@dataclass
class SiteRun:
    run: Run
    slug: str
    group: str
    row: dict[str, Any] = field(default_factory=dict)


def _env() -> Environment:
    return Environment(loader=PackageLoader("tinyreason.site", "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True,
                       lstrip_blocks=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def classify(paths: list[Path]) -> tuple[list[Path], list[Path], list[str]]:
    """(eval run directories, training directories, what was skipped and why). A folder of eval runs (a
    protocol's candidates) contributes its runs."""
    evals, training, skipped = [], [], []
    for p in paths:
        if not p.is_dir():
            skipped.append(f"{p}: not a directory")
        elif (p / "config.json").is_file() and (p / "samples.jsonl").is_file():
            evals.append(p)
        elif any((p / f).is_file() for f in ("train_report.json", "memorization.json", "metrics.jsonl")):
            training.append(p)
        elif any((c / "samples.jsonl").is_file() for c in p.iterdir() if c.is_dir()):
            evals += sorted(c for c in p.iterdir() if (c / "samples.jsonl").is_file())
        else:
            skipped.append(f"{p}: neither an eval run nor a training run")
    return evals, training, skipped


def _record(s: dict[str, Any]) -> dict[str, Any]:
    gens = s.get("generations", [])
    votes = (s.get("extra") or {}).get("votes")
    answers = {g.get("answer") for g in gens if g.get("stage") == "sample"}
    return {
        "id": s["id"], "q": s.get("question", ""), "gold": s.get("gold"), "pred": s.get("prediction"), "strict": s.get("prediction_strict"),
        "ok": bool(s.get("correct")), "trunc": bool(s.get("truncated")), "none": s.get("prediction") is None, "err": s.get("error"),
        "tok": s.get("generated_tokens", 0), "votes": votes, "disagree": len(answers) > 1,
        "extra": {k: v for k, v in (s.get("extra") or {}).items() if k != "votes"},
        "gens": [{"stage": g.get("stage"), "text": g.get("text", ""), "answer": g.get("answer"), "strict": g.get("answer_strict"),
                  "finish": g.get("finish_reason"), "tokens": g.get("n_tokens"),
                  "extra": {k: v for k, v in (g.get("extra") or {}).items() if k in GEN_EXTRA}} for g in gens],
    }  # fmt: skip


def _data_js(run: Run, key: str) -> str:
    errors = [{"id": e["id"], "q": e.get("question", ""), "err": e.get("error"), "errored": True, "gens": [], "extra": {}}
              for e in RunDir(run.path).errors(set(run.samples)).values()]
    rows = [_record(run.samples[i]) for i in run.order] + errors
    payload = {"name": run.name, "path": str(run.path), "label": run.label, "rows": rows}
    return "window.RUN = window.RUN || {};\nwindow.RUN[" + json.dumps(key) + "] = " + json.dumps(payload, ensure_ascii=False) + ";\n"


def _config_view(run: Run) -> dict[str, Any]:
    c = run.config
    prompts = c.get("prompts", {})
    return {"method": c.get("method", {}), "prompts": prompts, "backend": c.get("backend", {}), "data": c.get("data", {}),
            "subset": {k: v for k, v in c.get("subset", {}).items() if k != "ids"}, "versions": c.get("versions", {}),
            "git": c.get("git"), "created": c.get("created"), "runtime": c.get("runtime", {})}


def _rows(site_runs: list[SiteRun], base: SiteRun) -> None:
    top = max((wilson_interval(r.run.metrics()["correct"], r.run.metrics()["total"])[1] for r in site_runs), default=1.0)
    for sr in site_runs:
        m = sr.run.metrics()
        lo, hi = wilson_interval(m["correct"], m["total"])
        row: dict[str, Any] = {"accuracy": m["accuracy"], "correct": m["correct"], "n": m["total"], "expected": sr.run.expected,
                               "lo": lo, "hi": hi, "tokens": m["generated_tokens_per_question"], "status": sr.run.status,
                               "interval": interval_svg(m["accuracy"], lo, hi, top), "delta": None, "p": None, "verdict": "baseline",
                               "compare": None}
        if sr is not base:
            try:
                t = transitions(align(base.run, sr.run))
                judged = verdict(t) if sr.run.complete else "incomplete"
                row.update(delta=t.delta, p=t.p_value, verdict=judged, compare=f"compare-{base.slug}--{sr.slug}.html", shared=t.n)
            except AnalysisError:
                row["verdict"] = "other questions"  # e.g. a protocol's dev slice of train against the test baseline
        sr.row = row
    twins = baseline_runs([s.run for s in site_runs], base.run)
    by_run = {id(s.run): s for s in site_runs}
    for sr in site_runs:
        twin = twin_of(sr.run, twins, base.run) if sr is not base else None
        if twin is not None and sr.row["verdict"] != "other questions":
            t = transitions(align(twin, sr.run))
            tw = by_run[id(twin)]
            sr.row["like"] = {"twin": tw, "delta": t.delta, "p": t.p_value, "verdict": verdict(t) if sr.run.complete else "incomplete",
                              "compare": f"compare-{tw.slug}--{sr.slug}.html"}


def _replicated(site_runs: list[SiteRun]) -> list[dict[str, Any]]:
    """One experiment under several seeds (analysis.leaderboard.seed_groups): its mean, sd and range over seeds
    and how many seeds beat the baseline, so the index reads it as a whole, never as its best seed."""
    out = []
    for base, idx in seed_groups([(s.run.name, s.run) for s in site_runs]):
        members = [site_runs[i] for i in idx]
        accs = [s.row["accuracy"] for s in members]
        mean, sd = spread(accs)
        out.append({"base": base, "runs": members, "mean": mean, "sd": sd, "lo": min(accs), "hi": max(accs),
                    "better": sum(s.row["verdict"] == "better" for s in members), "worse": sum(s.row["verdict"] == "worse" for s in members)})
    return out


def _compare_page(env: Environment, a: SiteRun, b: SiteRun, out: Path) -> Path:
    t = transitions(align(a.run, b.run))
    path = out / f"compare-{a.slug}--{b.slug}.html"
    path.write_text(env.get_template("compare.html").render(a=a, b=b, t=t, verdict=verdict(t), fixed=t.fixed_ids, regressed=t.regressed_ids))
    return path


def _training(dirs: list[Path]) -> list[dict[str, Any]]:
    out = []
    for d in dirs:
        item: dict[str, Any] = {"name": d.name, "path": str(d), "charts": [], "chains": []}
        loss = d / "loss.json"
        if loss.is_file():
            rows = json.loads(loss.read_text())
            item["charts"].append(line_chart("training loss", [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None], "step"))
        metrics = d / "metrics.jsonl"
        if metrics.is_file():
            rows = [json.loads(line) for line in metrics.read_text(encoding="utf-8").split("\n") if line.strip()]
            train, dev = [r for r in rows if r.get("kind") == "train"], [r for r in rows if r.get("kind") == "dev"]
            for key, title in (("reward", "reward"), ("reward_std", "reward spread (std)"), ("frac_reward_zero_std", "zero-variance share"),
                               ("completion_mean_length", "completion length")):
                pts = [(r["step"], r[key]) for r in train if r.get(key) is not None]
                if pts:
                    item["charts"].append(line_chart(title, pts, "step"))
            if dev:
                item["charts"].append(line_chart("dev accuracy", [(r["step"], r["accuracy"]) for r in dev], "step"))
        memo = d / "memorization.json"
        if memo.is_file():
            item["chains"] = json.loads(memo.read_text()).get("examples", [])
        out.append(item)
    return out


def build_site(paths: list[str | Path], out: str | Path, *, baseline: str | Path | None = None,
               compare: tuple[str | Path, str | Path] | None = None) -> tuple[Path, list[str]]:
    """Write the site into `out`; returns (index.html, what was skipped and why)."""
    out = Path(out)
    evals, training, skipped = classify([Path(p) for p in paths])
    runs: list[Run] = []
    for p in evals:
        try:
            runs.append(load_run(p))
        except RunError as e:
            skipped.append(f"{p}: {e}")
    if not runs and not training:
        raise AnalysisError("nothing to show: no eval or training run among the paths given")
    names = [r.name for r in runs]
    site_runs = [SiteRun(r, _slug(f"{r.path.parent.name}-{r.name}" if names.count(r.name) > 1 else r.name), r.path.parent.name) for r in runs]
    env = _env()
    out.mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(exist_ok=True)
    for f in ("site.css", "site.js"):
        shutil.copyfile(Path(__file__).parent / "static" / f, out / f)
    base = None
    if site_runs:
        wanted = Path(baseline).resolve() if baseline else None
        base = next((s for s in site_runs if wanted is not None and s.run.path.resolve() == wanted), None)
        base = base or next((s for s in site_runs if s.run.name == "greedy"), site_runs[0])
        _rows(site_runs, base)
    for sr in site_runs:
        (out / "data" / f"{sr.slug}.js").write_text(_data_js(sr.run, sr.slug))
        (out / f"run-{sr.slug}.html").write_text(env.get_template("run.html").render(r=sr, config=_config_view(sr.run), base=base))
        if sr.row.get("compare"):
            _compare_page(env, base, sr, out)  # type: ignore[arg-type]
        if sr.row.get("like"):
            _compare_page(env, sr.row["like"]["twin"], sr, out)
    if compare is not None:
        pick = {s.run.path.resolve(): s for s in site_runs}
        a, b = (pick.get(Path(c).resolve()) for c in compare)
        if a is None or b is None:
            raise AnalysisError(f"--compare {compare[0]} {compare[1]}: both must be among the runs given")
        _compare_page(env, a, b, out)
    groups: dict[str, list[SiteRun]] = {}
    for sr in sorted(site_runs, key=lambda s: -s.row["accuracy"]):
        groups.setdefault(sr.group, []).append(sr)
    trained = _training(training)
    if trained:
        (out / "training.html").write_text(env.get_template("training.html").render(items=trained))
    index = out / "index.html"
    index.write_text(env.get_template("index.html").render(groups=groups, base=base, trained=bool(trained), skipped=skipped,
                                                           replicated=_replicated(site_runs) if base is not None else []))
    return index, skipped
