"""Watching the task while GRPO trains, not only the reward: a TrainerCallback and the files it writes.

    RUN/metrics.jsonl        one line per logging step ("kind": "train": reward, reward std, frac_reward_zero_std,
                             completion length, clipped ratio, KL, reflection phrases per completion, per-reward
                             means) and one per dev evaluation ("kind": "dev": greedy accuracy flexible + strict,
                             no-answer count, mean tokens, reflection rate)
    RUN/curves.png           reward, dev accuracy, length and reflection rate vs step (redrawn at each evaluation)
    RUN/dev/step-000050/     the greedy dev evaluation at that step: an ordinary eval run directory
                             (`tinyreason show RUN/dev/step-000050 --id N`, `tinyreason leaderboard`, ...)
    RUN/adapters/step-000050/  with keep: best_dev, the adapter as it was at that evaluation (weights not committed);
                             the run directory's own adapter is then the best dev step's (grpo.py: keep_adapter)
    RUN/watch/step-000050/   watch_samples sampled completions of the first watch_questions dev questions
                             (`tinyreason train grpo-show RUN` renders how they change across steps)

The dev slice is part of GSM8K *train*, disjoint from the training prompts (grpo.py checks it) and never the
test subset, so watching it every eval_every steps leaves the leaderboard's test questions untouched. The
dev evaluation runs the same eval loop, method and backend code as `tinyreason eval` (HFBackend.around the
model in training), at step 0 (the base model), every eval_every steps and at the end.

A GRPO group whose completions all get the same reward has zero advantage and gives no gradient; when
frac_reward_zero_std averages >= zero_std_warn over the last zero_std_patience logging steps the console says
so loudly and the warning is kept for train_report.json. So does a collapse of completion length (the mean
over the same window below COLLAPSE_RATIO of the first logged step's): a policy that stopped reasoning has
usually found a reward that pays without it (measured: a format bonus paid on wrong answers).

The dev row counts bare guesses (analysis.taxonomy.is_guess: a chain under 20 generated tokens stating no
computation). With stop_guessing set, a dev evaluation where at least that share of answers are guesses stops
training there (the collapse measured on the CPU: seed 2 of the gated recipe guessed on 8 of 20 dev questions
at step 10); with keep: best_dev the run then keeps its best evaluated adapter, not the collapsed one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from transformers import TrainerCallback

from tinyreason.analysis.taxonomy import is_guess, judged_generation
from tinyreason.data import Dataset
from tinyreason.train.rewards import count_phrases, phrase_pattern, reflection_phrases
from tinyreason.types import Problem

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
ADAPTERS = "adapters"  # keep: best_dev saves each evaluated step's adapter here (RUN/adapters/step-000050)
COLLAPSE_RATIO = 0.2  # mean completion length below this fraction of the first step's: the collapse warning
# TRL's log keys -> metrics.jsonl keys (a key TRL did not log is stored as null: beta 0 logs no KL)
TRAIN_KEYS = {"reward": "reward", "reward_std": "reward_std", "frac_reward_zero_std": "frac_reward_zero_std",
              "completions/mean_length": "completion_mean_length", "completions/clipped_ratio": "clipped_ratio", "kl": "kl",
              "rewards/reflection/mean": "reflection_rate", "entropy": "entropy", "loss": "loss", "grad_norm": "grad_norm",
              "learning_rate": "learning_rate", "step_time": "step_time_s"}


def step_dir(out: Path, kind: str, step: int) -> Path:
    return out / kind / f"step-{step:06d}"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl rows; a torn last line (kill -9 mid-write) is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # only the torn tail or the final empty string: every line is written whole, then fsync'ed
    return rows


def append_row(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def rewind(out: Path, step: int) -> int:
    """Forget what happened after `step` (the checkpoint a resumed run restarts from): metrics.jsonl rows
    and dev/watch evaluations of later steps belong to weights that no longer exist. Returns rows dropped.
    metrics.jsonl is rewritten beside itself and swapped in, so a kill mid-rewrite leaves the old file whole."""
    path = out / METRICS_FILE
    rows = read_rows(path)
    kept = [r for r in rows if r.get("step", 0) <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)
    for kind in ("dev", "watch", ADAPTERS):
        for d in sorted((out / kind).glob("step-*")) if (out / kind).is_dir() else []:
            if int(d.name.split("-")[1]) > step:
                shutil.rmtree(d)
    return len(rows) - len(kept)


def train_row(step: int, logs: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": "train", "step": step, **{new: logs.get(old) for old, new in TRAIN_KEYS.items()}}
    row["rewards"] = {k.split("/")[1]: v for k, v in logs.items() if k.startswith("rewards/") and k.endswith("/mean") and "/reflection/" not in k}
    return row


class TaskWatch(TrainerCallback):
    """Dev evaluation, metrics.jsonl, the console line and the zero-variance warning (see module doc)."""

    def __init__(self, cfg: Any, out: Path, dev: list[Problem], source: str, device: str, dtype: str, console: Console) -> None:
        self.cfg, self.out, self.console = cfg, out, console
        self.dev = Dataset(source=source, split="train", problems=dev)
        self.watched = Dataset(source=source, split="train", problems=dev[: cfg.watch_questions])
        self.device, self.dtype = device, dtype
        self.pattern = phrase_pattern(reflection_phrases(cfg))  # the phrases the run's reflection reward counts
        self.barrier: Callable[[], None] = lambda: None  # grpo.py sets accelerator.wait_for_everyone
        self.backend: Any = None
        self.recent: list[dict[str, Any]] = []  # the last zero_std_patience train rows
        self.first_len: float | None = None
        self.warned: set[str] = set()
        self.warnings: list[str] = []
        self.summary: dict[str, Any] = {}
        self.eval_s = 0.0
        self.last_eval = -1
        self.stopped: dict[str, Any] | None = None  # set when stop_guessing ended the run early

    # --- TrainerCallback hooks -------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if state.global_step == 0:
            self._evaluate(state, model)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if state.global_step % self.cfg.eval_every == 0:
            self._evaluate(state, model)
            self._guard(state, control)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if self.last_eval != state.global_step:
            self._evaluate(state, model)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if "train_runtime" in logs:  # the trainer's closing summary: its own throughput numbers
            self.summary = {k: logs[k] for k in ("train_runtime", "train_samples_per_second", "train_steps_per_second") if k in logs}
        if "reward" not in logs:
            return
        row = train_row(state.global_step, logs)
        append_row(self.out / METRICS_FILE, row)
        self.console.print(console_line(row, state.max_steps))
        self._stall_warnings(row)

    # --- the work ----------------------------------------------------------------------------------
    def _evaluate(self, state: Any, model: Any) -> None:
        done = any(r["kind"] == "dev" and r["step"] == state.global_step for r in read_rows(self.out / METRICS_FILE))
        if state.is_world_process_zero and not done:  # done: a resumed run that had finished this evaluation
            row = self.evaluate_dev(model, state.global_step)
            if self.cfg.keep == "best_dev" and state.global_step > 0:  # saved before the row: a dev row implies its adapter
                model.save_pretrained(step_dir(self.out, ADAPTERS, state.global_step))
            append_row(self.out / METRICS_FILE, row)
            self.console.print(dev_line(row, len(self.dev.problems)))
            plot_curves(self.out)
        self.last_eval = state.global_step
        self.barrier()  # other processes wait here rather than inside the next step's collectives

    def evaluate_dev(self, model: Any, step: int) -> dict[str, Any]:
        """Greedy accuracy on the dev slice and the watched questions' samples, with the model in eval mode."""
        from tinyreason.evaluate import evaluate
        from tinyreason.methods import create_method
        from tinyreason.runs import RunDir

        cfg, t0 = self.cfg, time.perf_counter()
        backend = self._backend(model, step)
        was_training = model.training
        model.eval()
        try:
            greedy = create_method("greedy", prompt=cfg.prompt, max_new_tokens=cfg.dev_max_new_tokens, seed=cfg.seed)
            m = evaluate(backend, greedy, self.dev, step_dir(self.out, "dev", step), limit=None, seed=cfg.split_seed,
                         batch_size=backend.batch_size, progress=False)
            if cfg.watch_questions:
                sampled = create_method("sc", prompt=cfg.prompt, n=cfg.watch_samples, temperature=cfg.temperature, top_p=cfg.top_p,
                                        max_new_tokens=cfg.max_completion_length, seed=cfg.seed)
                evaluate(backend, sampled, self.watched, step_dir(self.out, "watch", step), limit=None, seed=cfg.split_seed,
                         batch_size=backend.batch_size, progress=False)
        finally:
            model.train(was_training)
        samples = RunDir(step_dir(self.out, "dev", step)).samples()
        texts = [g["text"] for s in samples for g in s["generations"]]
        wall = time.perf_counter() - t0
        self.eval_s += wall
        return {"kind": "dev", "step": step, "accuracy": m["accuracy"], "accuracy_strict": m["strict"]["accuracy"],
                "correct": m["correct"], "total": m["total"], "no_answer": m["no_answer"], "truncated": m["truncated_questions"],
                "mean_tokens": m["generated_tokens_per_question"], "wall_s": round(wall, 2),
                "guesses": sum(s.get("prediction") is not None and is_guess(judged_generation(s)) for s in samples),  # as the analysis counts
                "reflection_rate": sum(count_phrases(t, self.pattern) for t in texts) / max(1, len(texts))}

    def _backend(self, model: Any, step: int) -> Any:
        from tinyreason.backends.hf import HFBackend, HFConfig

        if self.backend is None or self.backend.model is not model:
            config = HFConfig(model=self.cfg.model, device=self.device, dtype=self.dtype, batch_size=self.cfg.dev_batch_size)
            self.backend = HFBackend.around(model, config, note={"grpo_run": str(self.out.resolve()), "step": step})
        self.backend.note = {"grpo_run": str(self.out.resolve()), "step": step}
        return self.backend

    def _guard(self, state: Any, control: Any) -> None:
        """stop_guessing: every process reads the dev row rank 0 wrote (after the barrier) and stops on the same step."""
        limit = self.cfg.stop_guessing
        row = next((r for r in read_rows(self.out / METRICS_FILE) if r["kind"] == "dev" and r["step"] == state.global_step), None)
        if limit is None or row is None or row.get("guesses") is None or not row.get("total"):
            return
        share = row["guesses"] / row["total"]
        if share >= limit:
            control.should_training_stop = True
            self.stopped = {"step": state.global_step, "guesses": row["guesses"], "total": row["total"], "stop_guessing": limit}
            if state.is_world_process_zero:
                self._warn("guessing", f"step {state.global_step}: {row['guesses']} of {row['total']} dev answers are bare guesses "
                           f"({share:.0%} >= stop_guessing {limit:.0%}): the policy stopped reasoning; training stops here")

    def _stall_warnings(self, row: dict[str, Any]) -> None:
        """Zero reward variance and collapsed length, each over the last zero_std_patience logging steps (each said once)."""
        if self.first_len is None:  # the run's first step, also after a resume (metrics.jsonl keeps it)
            first = next((r for r in read_rows(self.out / METRICS_FILE) if r["kind"] == "train"), row)
            self.first_len = first.get("completion_mean_length")
        n = self.cfg.zero_std_patience
        self.recent = [*self.recent, row][-n:]
        if len(self.recent) < n:
            return
        zero_std, length = (window_mean(self.recent, key) for key in ("frac_reward_zero_std", "completion_mean_length"))
        if zero_std is not None and zero_std >= self.cfg.zero_std_warn:
            self._warn("zero-std", f"step {row['step']}: frac_reward_zero_std averaged {zero_std:.2f} (>= {self.cfg.zero_std_warn}) over "
                       f"the last {n} logging steps — almost every group got the same reward for all its completions, so the "
                       "gradient is ~zero. Use flexible correctness, more generations per group, a larger completion budget, "
                       "or easier prompts.")
        if self.first_len and length is not None and length < COLLAPSE_RATIO * self.first_len:
            self._warn("collapse", f"step {row['step']}: completions shrank from {self.first_len:.0f} tokens (first step) to "
                       f"{length:.0f} (mean of the last {n}) — the policy stopped reasoning; a reward that pays without "
                       "it (a format bonus on wrong answers: set format_when: correct) is the usual cause.")

    def _warn(self, key: str, msg: str) -> None:
        if key in self.warned:
            return
        self.warned.add(key)
        self.warnings.append(msg)
        self.console.print(f"[bold red]WARNING:[/] {msg}")


def window_mean(rows: list[dict[str, Any]], key: str) -> float | None:
    """Mean of `key` over rows; None when any row lacks it (TRL did not log it)."""
    values = [r.get(key) for r in rows]
    return None if None in values else sum(values) / len(values)


def format_or_dash(v: Any, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def console_line(row: dict[str, Any], max_steps: int) -> str:
    parts = [f"step {row['step']}/{max_steps}", f"reward {format_or_dash(row['reward'], '.3f')} ± {format_or_dash(row['reward_std'], '.3f')}",
             f"zero-std {format_or_dash(row['frac_reward_zero_std'], '.2f')}", f"len {format_or_dash(row['completion_mean_length'], '.0f')}",
             f"clipped {format_or_dash(row['clipped_ratio'], '.0%')}", f"KL {format_or_dash(row['kl'], '.4f')}", f"reflect {format_or_dash(row['reflection_rate'], '.2f')}/c"]
    parts += [f"{k} {format_or_dash(v, '.2f')}" for k, v in row["rewards"].items()]
    if row.get("step_time_s") is not None:
        parts.append(f"{row['step_time_s']:.1f} s/step")
    return " · ".join(parts)


def dev_line(row: dict[str, Any], n: int) -> str:
    return (f"[bold cyan]dev @ step {row['step']}[/]: accuracy {row['accuracy']:.1%} (strict {row['accuracy_strict']:.1%}) on {n} "
            f"train-split questions · no answer {row['no_answer']} · {row['mean_tokens']:.0f} tok · reflect {row['reflection_rate']:.2f}/c "
            f"· bare guesses {row.get('guesses', '–')} · {row['wall_s']:.0f} s")


def plot_curves(out: Path) -> Path | None:
    """curves.png from metrics.jsonl: reward (and zero-std share), dev accuracy, length, reflection rate vs step."""
    rows = read_rows(out / METRICS_FILE)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")  # headless: training machines have no display
    import matplotlib.pyplot as plt

    train = [r for r in rows if r["kind"] == "train"]
    dev = [r for r in rows if r["kind"] == "dev"]
    panels = [("reward", [(train, "reward", "mean reward"), (train, "frac_reward_zero_std", "frac. groups zero std")]),
              ("dev accuracy (greedy)", [(dev, "accuracy", "flexible"), (dev, "accuracy_strict", "strict")]),
              ("completion tokens", [(train, "completion_mean_length", "train mean (sampled)"), (dev, "mean_tokens", "dev mean (greedy)")]),
              ("reflection phrases / completion", [(train, "reflection_rate", "train (sampled)"), (dev, "reflection_rate", "dev (greedy)")])]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    for ax, (title, series) in zip(axes.flat, panels):
        for data, key, label in series:
            pts = [(r["step"], r[key]) for r in data if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="." if len(pts) < 60 else None, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / CURVES_FILE
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
