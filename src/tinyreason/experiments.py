"""The kinds of experiment a recipe can hold: what each runs, how far it got, and what the rest will cost.

    kind             `config:` is a...                                 its run directory <runs>/<name> holds
    eval             tinyreason.spec.EvalSpec (out: set by reproduce)   config.json, samples.jsonl, metrics.json
    protocol         tinyreason.protocol.ProtocolConfig (out: set)      one eval run per candidate prompt, choice.json
    audit-verifier   tinyreason.verifier.AuditConfig (audit_dir: set)   <key>.json, the audit sc-verifier reads
    distill          DistillRecipe: teacher spec + DistillOptions       traces.jsonl (+ .rejects/.config/.summary)
    sft              tinyreason.train.sft.SFTRunConfig                  the adapter, train_config.json, train_report.json
    memorize         tinyreason.train.memorize.MemorizeConfig           the adapter, memorization.json
    grpo             tinyreason.train.grpo_config.GRPORunConfig         the adapter, checkpoints, train_report.json

Each kind says whether this install has what it needs (a method or trainer that is not there makes an
`optional: true` experiment "unavailable", skipped), its state in its run directory (done / partial k of n /
missing), its cost estimate, and runs it: evals and distillations resume where they stopped, SFT and GRPO
from their checkpoints (train/checkpoints.py); a memorization run (minutes) starts over, as does a training
run whose checks failed.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from tinyreason.data import DataError
from tinyreason.identity import extending_fields, with_later_defaults
from tinyreason.runs import RunDir, compare_run
from tinyreason.train.checkpoints import DATA_PATHS, code_differences, config_differences, data_differences, last_checkpoint
from tinyreason.train.distill import DistillOptions, TraceFiles

Log = Callable[[str], None]


class StepFailed(RuntimeError):
    """An experiment ran but did not produce what it is for (e.g. too few accepted traces)."""


@dataclass(frozen=True)
class State:
    status: Literal["done", "partial", "missing"]
    done: int | None = None  # questions / traces finished
    total: int | None = None  # of how many
    note: str = ""
    stale: str = ""  # the stored run was made with other settings: reproduce refuses to touch it

    def __str__(self) -> str:
        if self.stale:
            return f"stale: the stored run differs ({self.stale}); move it away or use another --runs"
        text = f"{self.status} {self.done} of {self.total}" if self.status != "missing" and self.total else self.status
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class TokenStats:
    """Generated tokens of the completions finished so far in a run, and the seconds their questions took (the
    cost estimate's yardstick)."""

    questions: int
    completions: int
    tokens: int
    wall_s: float = 0.0

    @property
    def rate(self) -> float | None:
        """Generated tokens per second of generation (None without timings)."""
        return self.tokens / self.wall_s if self.wall_s > 0 else None


def eval_token_stats(run_dir: Path) -> TokenStats | None:
    if not (run_dir / "samples.jsonl").is_file():
        return None
    q = c = t = 0
    wall = 0.0
    for s in RunDir(run_dir).iter_samples():
        q, c, t = q + 1, c + len(s.get("generations", [])), t + int(s.get("generated_tokens", 0))
        wall += float(s.get("wall_s") or 0.0)
    return TokenStats(q, c, t, wall) if c else None


@dataclass(frozen=True)
class Yardstick:
    """What the recipe's eval runs measured so far, for the cost of the rest: generated tokens per completion,
    and generated tokens per second by (engine, method) — each eval's time is its tokens over the rate of runs
    like it on this machine (rates differ ~3x between a batched vote and greedy, and by weights)."""

    mean_tokens: float | None = None
    rates: dict[tuple[str, str], float] = field(default_factory=dict)  # (backends.base.engine_name, method) -> tok/s

    def rate(self, engine: str, method: str) -> tuple[float, str] | None:
        """(tok/s, where it comes from): the same engine and method, else the engine's slowest method."""
        if (engine, method) in self.rates:
            return self.rates[(engine, method)], f"{method} on {engine} here"
        same = [r for (e, _), r in self.rates.items() if e == engine]
        return (min(same), f"the slowest method on {engine} here") if same else None


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _tokens(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else f"{n:.0f}"


class Kind:
    """One kind of experiment. `fixed` fields are set by reproduce (a recipe that sets them is refused)."""

    name: ClassVar[str]
    fixed: ClassVar[tuple[str, ...]] = ()

    def config_model(self) -> type[BaseModel]:
        raise NotImplementedError

    def unavailable(self, data: dict[str, Any]) -> tuple[str, str] | None:
        """(field, reason) when this install lacks what the experiment needs; None when it can run."""
        return None

    def fixed_fields(self, out: Path) -> dict[str, Any]:
        return {}

    def state(self, cfg: Any, out: Path) -> State:
        raise NotImplementedError

    def estimate(self, cfg: Any, out: Path, state: State, yard: Yardstick) -> str:
        raise NotImplementedError

    def refusal(self, cfg: Any) -> str | None:
        """Why running it would be refused before anything loads (an eval's method preflight), or None."""
        return None

    def run(self, cfg: Any, out: Path, state: State, log: Log, progress: bool) -> str:
        """Run (or resume) it; returns a one-line result."""
        raise NotImplementedError


class EvalKind(Kind):
    name = "eval"
    fixed = ("out",)

    def config_model(self) -> type[BaseModel]:
        from tinyreason.spec import EvalSpec

        return EvalSpec

    def unavailable(self, data: dict[str, Any]) -> tuple[str, str] | None:
        """A method that is not registered (EvalSpec checks everything else, the backend included)."""
        from tinyreason.methods import method_names

        method = data.get("method", "greedy")
        if method not in method_names():
            return "method", f"method '{method}' is not registered (registered: {', '.join(method_names())})"
        return None

    def fixed_fields(self, out: Path) -> dict[str, Any]:
        return {"out": str(out)}

    def state(self, cfg: Any, out: Path) -> State:
        """The stored run against the config `eval` would write for this spec: the one comparison eval makes
        before it continues a run (runs.compare_run), so a row called partial here is one eval resumes."""
        from tinyreason.spec import planned

        run = RunDir(out)
        if not run.config_path.exists():
            return State("missing", 0, cfg.limit)
        stored = run.config()
        total = len(stored.get("subset", {}).get("ids", []))
        done = sum(1 for _ in run.iter_samples())
        try:
            config, how = planned(cfg)
            unread = ""
        except DataError as e:  # a data file gone: the rest is still compared, and the row says what was not
            config, how = planned(cfg, without_data=True)
            unread = f"its data was not compared: {e}"
        differs, grows = compare_run(stored, config, **how)
        if differs:
            return State("partial", done, total, stale="; ".join(differs[:6]) + (f"; {len(differs) - 6} more" if len(differs) > 6 else ""))
        if grows:  # eval grows a run whose stored subset is a prefix of the new one, keeping its finished questions
            return State("partial", done, len(config["subset"]["ids"]))
        if done >= total and run.metrics_path.exists():
            return State("done", done, total, note=unread)
        errors = len(run.errors())  # only a run that is not done can have questions left to retry
        return State("partial", done, total, note=f"{errors} failed question(s) to retry" if errors else "")

    def estimate(self, cfg: Any, out: Path, state: State, yard: Yardstick) -> str:
        remaining = (state.total or cfg.limit) - (state.done or 0)
        if state.status == "done" or remaining <= 0:
            return "—"
        own = eval_token_stats(out)
        per_q = own.completions / own.questions if own else float(cfg.build_method().samples_per_question)
        mean = own.tokens / own.completions if own else yard.mean_tokens
        at_least = "" if own else "≥ "  # without a run of its own, extra calls (reflect, verify) are not counted
        if mean is None:
            return f"unknown (no run yet): {remaining} q × {at_least}{per_q:.3g} completions"
        tokens = remaining * per_q * mean
        text = f"≈ {_tokens(tokens)} tok: {remaining} q × {at_least}{per_q:.3g} completions × {mean:.0f} tok"
        rate = (own.rate, "its own so far") if own is not None and own.rate else self._rate(cfg, yard)
        return text + (f"; {at_least}{_duration(tokens / rate[0])} at {rate[0]:.0f} tok/s ({rate[1]})" if rate else "")

    @staticmethod
    def _rate(cfg: Any, yard: Yardstick) -> tuple[float, str] | None:
        from tinyreason.backends.base import engine_name
        from tinyreason.spec import planned_backend

        try:
            described = planned_backend(cfg)
        except (ValueError, OSError):
            return None
        method = getattr(cfg, "method", "greedy")
        return yard.rate(engine_name(described), method) if described is not None else None

    def refusal(self, cfg: Any) -> str | None:
        from tinyreason.spec import refusal

        return refusal(cfg)

    def run(self, cfg: Any, out: Path, state: State, log: Log, progress: bool) -> str:
        from tinyreason.spec import error_summary, run_eval

        m, _ = run_eval(cfg, progress=progress, warn=log)
        if error_summary(m):
            raise StepFailed(error_summary(m))
        return f"accuracy {m['accuracy']:.1%} ({m['correct']}/{m['total']}), {m['generated_tokens_per_question']:.0f} gen tok/q"


class AuditKind(Kind):
    name = "audit-verifier"
    fixed = ("audit_dir",)

    def config_model(self) -> type[BaseModel]:
        from tinyreason.verifier import AuditConfig

        return AuditConfig

    def fixed_fields(self, out: Path) -> dict[str, Any]:
        return {"audit_dir": str(out)}

    def state(self, cfg: Any, out: Path) -> State:
        """Done when the audit directory holds an audit of this source run (matched by its directory name, so
        committed runs stay done on another machine) with the same size, seed and prompt."""
        for path in sorted(out.glob("*.json")):
            a = json.loads(path.read_text())
            same = (Path(a.get("source_run", "")).name, a.get("size_requested"), a.get("seed"), a.get("prompt", {}).get("name"))
            if same == (Path(cfg.run).name, cfg.size, cfg.seed, cfg.prompt):
                return State("done", note=f"accuracy {a['accuracy']:.1%}, gate {'passed' if a['passed'] else 'FAILED'}")
        return State("missing")

    def estimate(self, cfg: Any, out: Path, state: State, yard: Yardstick) -> str:
        return "—" if state.status == "done" else f"≤ {_tokens(cfg.size * cfg.max_new_tokens)} tok: ≤ {cfg.size} verdicts × ≤ {cfg.max_new_tokens} tok"

    def run(self, cfg: Any, out: Path, state: State, log: Log, progress: bool) -> str:
        from tinyreason.verifier import run_audit

        r, path = run_audit(cfg, progress=log if progress else None)
        verdict = "passed" if r["passed"] else "FAILED: sc-verifier will refuse this model and prompt"
        return f"verifier accuracy {r['accuracy']:.1%} ({r['correct']}/{r['total']}), gate {r['gate']:.0%} {verdict} ({path.name})"


class DistillRecipe(DistillOptions):
    """`distill generate` as data: the teacher, where its questions come from, and the DistillOptions."""

    teacher: str = Field(description="teacher backend spec: openai:MODEL@URL, hf:MODEL, scripted:RULES.json")
    teacher_options: dict[str, Any] = Field(default_factory=dict, description="teacher backend options the spec cannot say (concurrency, timeout, ...)")
    data: str | None = Field(None, description="local GSM8K train .jsonl (None: openai/gsm8k train from the Hub)")
    split: str = Field("train", description="Hub split (distillation refuses test)")
    fewer_ok: bool = Field(False, description="true: a spent budget (max_attempts questions asked) ends the step with fewer than n traces, and the "
                                              "rows after it train on what there is and say how many; false: fewer than n is a failure to rerun")

    @field_validator("teacher")
    @classmethod
    def _known_backend(cls, spec: str) -> str:
        from tinyreason.backends.spec import parse_backend_spec

        parse_backend_spec(spec)  # ValueError listing the valid forms
        return spec


class DistillKind(Kind):
    name = "distill"

    def config_model(self) -> type[BaseModel]:
        return DistillRecipe

    def state(self, cfg: Any, out: Path) -> State:
        files = TraceFiles(out / "traces.jsonl")
        if not files.config.exists():
            return State("missing", 0, cfg.n)
        dataset, unread = self._dataset(cfg)
        stale = self._stale(cfg, json.loads(files.config.read_text()), dataset, unread)
        if stale:
            return State("partial", stale=stale)
        accepted = files.traces.read_bytes().count(b"\n") if files.traces.exists() else 0
        if accepted < cfg.n and cfg.fewer_ok and self._budget_spent(cfg, files, len(dataset.problems) if dataset else None):
            return State("done", accepted, accepted)
        return State("done" if accepted >= cfg.n else "partial", accepted, cfg.n)

    @staticmethod
    def _dataset(cfg: Any) -> tuple[Any, str]:
        from tinyreason.data import DataError, load_problems

        try:
            return load_problems(cfg.data, cfg.split), ""
        except (DataError, OSError, ValueError) as e:
            return None, str(e)

    @staticmethod
    def _stale(cfg: Any, stored: dict[str, Any], dataset: Any, unread: str) -> str:
        """The stored distillation against the recipe's (distill's own comparison, less what the teacher
        reports once loaded): the prompt, sampling, validation, the data by content, and the teacher's backend
        and the options the recipe gives it as the stored teacher records them."""
        from tinyreason.backends.spec import parse_backend_spec
        from tinyreason.prompts import get_prompt
        from tinyreason.train.distill import Validation, sampling_params, stored_differences

        teacher = stored.get("teacher") or {}
        diffs = []
        name = parse_backend_spec(cfg.teacher)[0]
        if teacher.get("backend") not in (None, name):
            diffs.append(f"teacher: stored {teacher['backend']} != now {name}")
        diffs += [f"teacher.{k}: stored {teacher[k]} != now {v}" for k, v in cfg.teacher_options.items() if k in teacher and teacher[k] != v]
        if dataset is None:
            return "; ".join([*diffs, f"data not compared ({unread})"]) if diffs else ""
        return "; ".join(diffs + stored_differences(stored, get_prompt(cfg.prompt), sampling_params(cfg), dataset, Validation.of(cfg)))

    @staticmethod
    def _budget_spent(cfg: Any, files: TraceFiles, available: int | None) -> bool:
        from tinyreason.train.distill import read_jsonl, summarize

        accepted = {r["id"]: r for r in read_jsonl(files.traces, repair=False)}
        rejected = {r["id"]: r for r in read_jsonl(files.rejects, repair=False)}
        return summarize(accepted, rejected, cfg.n, {}, cfg.max_attempts or 10 * cfg.n, available)["budget_spent"]

    def estimate(self, cfg: Any, out: Path, state: State, yard: Yardstick) -> str:
        if state.status == "done" or state.stale:
            return "—"
        remaining = cfg.n - (state.done or 0)
        files = TraceFiles(out / "traces.jsonl")
        from tinyreason.train.distill import read_jsonl

        rows = read_jsonl(files.traces, repair=False) + read_jsonl(files.rejects, repair=False)
        if not rows:
            return f"unknown (no traces yet): ≥ {remaining} questions × {cfg.samples} teacher completion{'s' * (cfg.samples > 1)}"
        mean = sum(r.get("n_tokens") or 0 for r in rows) / len(rows)  # a row is a question: its kept (or judged) sample's length
        per_ask = f"{cfg.samples} × {mean:.0f} tok" if cfg.samples > 1 else f"{mean:.0f} tok"  # every sample is generated
        if not state.done:
            return f"unknown (0 of {len(rows)} questions asked so far gave a trace): ≥ {remaining} questions × {per_ask}"
        per_accept = len(rows) / state.done
        return (f"≈ {_tokens(remaining * per_accept * cfg.samples * mean)} teacher tok: {remaining} traces × {per_accept:.2g} asks "
                f"× {per_ask}")

    def run(self, cfg: Any, out: Path, state: State, log: Log, progress: bool) -> str:
        from tinyreason.backends.spec import create_backend_from_spec
        from tinyreason.data import load_problems
        from tinyreason.train.distill import distill

        teacher = create_backend_from_spec(cfg.teacher, **cfg.teacher_options)
        options = DistillOptions(**cfg.model_dump(include=set(DistillOptions.model_fields)))
        summary = distill(teacher, load_problems(cfg.data, cfg.split), out / "traces.jsonl", options, progress=progress)
        line = f"{summary['accepted']} traces accepted of {summary['attempted']} asked, rejects {summary['rejects_by_reason'] or 'none'}"
        if summary["budget_spent"] and cfg.fewer_ok:
            return f"budget spent: {line} (fewer_ok: the rows after it train on these {summary['accepted']})"
        if summary["data_exhausted"]:
            raise StepFailed(f"only {line}: every one of the data's {summary['questions_available']} questions was asked "
                             f"(fewer_ok: true trains on these; or a better teacher, more samples)")
        if not summary["complete"]:
            raise StepFailed(f"only {line}; raise max_attempts (or fix the teacher) and rerun")
        return line


@dataclass(frozen=True)
class Trainer:
    """Where a training command lives: `function(config, out, force=...)` in `module`, and the file it writes last."""

    module: str
    config: str
    function: str
    done_file: str
    stored_config: str  # the file whose "config" records what the run was trained with
    command: str
    size: tuple[str, str] | None  # (examples field, epochs field) for the cost column; None: steps (below)
    resumes: bool = False  # True: rerunning continues from its checkpoints; False: a partial run starts over (force)


class TrainKind(Kind):
    def __init__(self, name: str, trainer: Trainer) -> None:
        self.name, self.trainer = name, trainer  # type: ignore[misc]

    def _module(self) -> Any:
        return importlib.import_module(self.trainer.module)

    def unavailable(self, data: dict[str, Any]) -> tuple[str, str] | None:
        t = self.trainer
        try:
            module = self._module()
        except ImportError as e:
            return "kind", f"`tinyreason {t.command}` is not available in this install ({t.module}: {e})"
        missing = [a for a in (t.config, t.function) if not hasattr(module, a)]
        return ("kind", f"`tinyreason {t.command}` is not available: {t.module} has no {', '.join(missing)}") if missing else None

    def config_model(self) -> type[BaseModel]:
        return getattr(self._module(), self.trainer.config)

    def state(self, cfg: Any, out: Path) -> State:
        """The stored run against the recipe's config by the trainer's own rule (checkpoints.config_differences,
        which `train sft` / `train grpo` refuse by): stale only where the trainer would refuse to continue."""
        stored_path = out / self.trainer.stored_config
        extends: list[str] = []
        if stored_path.is_file():
            record = json.loads(stored_path.read_text())
            stored, now = record.get("config", {}), cfg.model_dump(mode="json")
            diffs = config_differences(stored, now, type(cfg))
            code = getattr(self._module(), "code_records", None)  # plug-in code the run records (GRPO's rewards)
            if code is not None:
                diffs += code_differences(record, {"plugins": code(cfg)})
            moved = [k for k in DATA_PATHS if k in now and stored.get(k) != now[k]]
            record_now = getattr(self._module(), "data_record", None)  # the trainer's own record of its examples (SFT)
            if moved and record_now is not None:
                try:
                    diffs += data_differences(record.get("data", {}), record_now(cfg))
                except (DataError, OSError) as e:
                    diffs.append(f"{moved[0]}: stored {stored.get(moved[0])}, now {now[moved[0]]}, which cannot be read ({e})")
            elif "data" in moved and not same_data(record, stored.get("data"), now["data"]):
                diffs.append(f"data: stored {stored.get('data')} holds other questions than now {now['data']}")
            if diffs:
                return State("partial", stale="; ".join(diffs))
            was = with_later_defaults(stored, type(cfg))
            extends = [f"{f} {was[f]} → {now[f]}" for f in sorted(extending_fields(type(cfg))) if now[f] > was[f]]
        done = out / self.trainer.done_file
        if done.is_file():
            report = json.loads(done.read_text())
            if report.get("ok", True) and extends and self.trainer.resumes:
                return State("partial", note=f"finished; continues from its last checkpoint ({', '.join(extends)})")
            if report.get("ok", True):
                from tinyreason.models import has_adapter_weights

                no_weights = (out / "adapter_config.json").is_file() and not has_adapter_weights(out)
                return State("done", note="its adapter weights are not in this checkout: an eval of it that must run needs them" if no_weights else "")
            return State("partial", note=f"failed checks {', '.join(report.get('failed_checks', []))}; starts over")
        if out.is_dir() and any(out.iterdir()):
            if not self.trainer.resumes:
                return State("partial", note="interrupted; training starts over")
            last = last_checkpoint(out, remove_torn=False)  # a dry run removes nothing
            return State("partial", note=f"interrupted; resumes from {Path(last).name}" if last else
                         "interrupted before its first checkpoint; training starts over")
        return State("missing")

    def estimate(self, cfg: Any, out: Path, state: State, yard: Yardstick) -> str:
        if state.status == "done":
            return "—"
        if self.trainer.size is None:  # an RL run: optimizer steps, each sampling a batch of completions
            return (f"training: {cfg.max_steps} steps × {cfg.generation_batch_size} completions ≤ {cfg.max_completion_length} tok"
                    f" (+ dev evals of {cfg.dev_n} q every {cfg.eval_every} steps)")
        examples, epochs = (getattr(cfg, f) for f in self.trainer.size)
        return f"training: {examples if examples is not None else 'all'} examples × {epochs:g} epoch{'' if epochs == 1 else 's'}"

    def run(self, cfg: Any, out: Path, state: State, log: Log, progress: bool) -> str:
        train = getattr(self._module(), self.trainer.function)
        failed_before = (out / self.trainer.done_file).is_file()  # a finished run whose checks failed: it starts over
        train(cfg, out, force=state.status == "partial" and (failed_before or not self.trainer.resumes))
        return train_summary(out, self.trainer.done_file)


def same_data(record: dict[str, Any], stored: Any, now: Any) -> bool:
    """Whether two data references of a training run hold the same content: by the fingerprint the run recorded,
    else by the bytes of the two files (gsm8k:SPLIT being the packaged file)."""
    from tinyreason.data import DataError, data_file, load_problems

    recorded = (record.get("data") or {}).get("fingerprint") if isinstance(record.get("data"), dict) else None
    try:
        if recorded:
            return load_problems(now, "train").fingerprint() == recorded
        a, b = data_file(stored), data_file(now)
    except (DataError, OSError, ValueError):
        return False
    return a is not None and b is not None and a.read_bytes() == b.read_bytes()


def train_summary(out: Path, done_file: str) -> str:
    record = json.loads((out / done_file).read_text())
    if "summary" in record:  # memorization.json
        s = record["summary"]
        return f"{s['verdict']}: pass@1 {s['passed']}/{s['k']}, exact chains {s['exact']}/{s['k']}, final loss {record['final_train_loss']:.4f}"
    t = record.get("train", {})
    loss = record.get("checks", {}).get("loss_curve")
    if loss is None and (out / "metrics.jsonl").is_file():  # GRPO: its loss says little; reward and dev accuracy do
        from tinyreason.train.watch import format_or_dash, read_rows, window_mean

        rows = read_rows(out / "metrics.jsonl")
        train, dev = [r for r in rows if r["kind"] == "train"], [r for r in rows if r["kind"] == "dev"]
        said = [f"{t.get('optimizer_steps', '?')} steps"]
        if train:  # one step's reward is 2 prompts' luck: the mean over the first and the last tenth of the steps
            w = max(1, len(train) // 10)
            first, last = train[:w], train[-w:]
            span = lambda rs: f"step {rs[0]['step']}" if len(rs) == 1 else f"steps {rs[0]['step']}–{rs[-1]['step']}"  # noqa: E731
            mean = lambda rs: format_or_dash(window_mean(rs, "reward"), ".3f")  # noqa: E731
            said.append(f"mean reward {mean(first)} ({span(first)}) → {mean(last)} ({span(last)})")
        if dev:
            said.append(f"dev accuracy {dev[0]['accuracy']:.1%} → {dev[-1]['accuracy']:.1%}")
        warned = len(record.get("warnings", []))
        whole = f" ({t['wall_s_all_sittings']:.0f} s over {t['sittings']} sittings)" if t.get("sittings", 1) > 1 else ""
        return ", ".join([*said, f"{t.get('wall_s', 0):.0f} s{whole}", *([f"{warned} warning(s) in train_report.json"] if warned else [])])
    loss = loss or {}
    return f"{t.get('optimizer_steps', '?')} steps, loss {loss.get('first', float('nan')):.3f} → {loss.get('last', float('nan')):.3f}, {t.get('wall_s', 0):.0f} s"


class ProtocolKind(Kind):
    """Greedy under each candidate prompt on a dev slice of train, then the choice (tinyreason.protocol)."""

    name = "protocol"
    fixed = ("out",)

    def config_model(self) -> type[BaseModel]:
        from tinyreason.protocol import ProtocolConfig

        return ProtocolConfig

    def fixed_fields(self, out: Path) -> dict[str, Any]:
        return {"out": str(out)}

    def _states(self, cfg: Any) -> list[State]:
        from tinyreason.protocol import candidate_dir

        return [EvalKind().state(cfg.spec(c), Path(cfg.out) / candidate_dir(c)) for c in cfg.candidates]

    def state(self, cfg: Any, out: Path) -> State:
        from tinyreason.protocol import read_choice

        states = self._states(cfg)
        stale = [f"{c}: {s.stale}" for c, s in zip(cfg.candidates, states) if s.stale]
        if stale:
            return State("partial", stale="; ".join(stale))
        done = sum(s.status == "done" for s in states)
        choice = read_choice(out)
        if (done == len(states) and choice is not None and choice.get("candidates_run") == cfg.candidates and choice.get("default") == cfg.default
                and choice.get("dev_n", cfg.dev_n) == cfg.dev_n):
            return State("done", done, len(states), note=f"chosen: {choice['chosen']}")
        return State("missing" if not any(s.done for s in states) else "partial", done, len(states), note="candidate prompts run")

    def estimate(self, cfg: Any, out: Path, state: State, yard: Yardstick) -> str:
        from tinyreason.protocol import candidate_dir

        if state.status == "done" or state.stale:
            return "—"  # (the candidates' states are not computed twice for the common case)
        left = [(c, s) for c, s in zip(cfg.candidates, self._states(cfg)) if s.status != "done"]
        if not left:
            return "—"
        c, s = left[0]  # on a grown slice each candidate asks only the questions it lacks
        one = EvalKind().estimate(cfg.spec(c), Path(cfg.out) / candidate_dir(c), s, yard)
        return f"{len(left)} candidate run(s) of {cfg.dev_n - (s.done or 0)} dev questions, each {one}"

    def run(self, cfg: Any, out: Path, state: State, log: Log, progress: bool) -> str:
        from tinyreason.protocol import CHOICE, candidate_result, check_disjoint, choose, earlier_looks, read_choice
        from tinyreason.spec import error_summary, run_eval

        data = check_disjoint(cfg)
        looks = earlier_looks(read_choice(out), cfg, data["fingerprint"])  # read before the candidates grow: a grown slice is another look
        results = []
        for c in cfg.candidates:
            m, run_dir = run_eval(cfg.spec(c), progress=progress, warn=log)
            if error_summary(m):
                raise StepFailed(f"protocol candidate {c}: {error_summary(m)}")
            log(f"  protocol candidate {c}: {m['accuracy']:.1%} ({m['correct']}/{m['total']}), {m['generated_tokens_per_question']:.0f} gen tok/q")
            results.append(candidate_result(run_dir, c))
        choice = choose(results, cfg.default, cfg.alpha)
        record = {**asdict(choice), "candidates_run": cfg.candidates, "alpha": cfg.alpha, "method": cfg.method,
                  "dev": {k: v for k, v in data.items() if k != "dev_ids"}, "dev_n": cfg.dev_n, "seed": cfg.seed, "earlier_looks": looks,
                  "results": [{"prompt": r.prompt, "correct": r.correct, "total": r.total, "tokens_per_question": r.tokens_per_question}
                              for r in results]}
        tmp = Path(out) / (CHOICE + ".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(Path(out) / CHOICE)
        return f"chosen: {choice.chosen} — {choice.reason}"


TRAINERS = {
    "sft": Trainer("tinyreason.train.sft", "SFTRunConfig", "train_sft", "train_report.json", "train_config.json", "train sft", ("train_n", "num_train_epochs"),
                   resumes=True),
    "memorize": Trainer("tinyreason.train.memorize", "MemorizeConfig", "memorize", "memorization.json", "memorization.json", "memorize", ("k", "epochs")),
    "grpo": Trainer("tinyreason.train.grpo", "GRPORunConfig", "train_grpo", "train_report.json", "train_config.json", "train grpo", None, resumes=True),
}
KINDS: dict[str, Kind] = {k.name: k for k in (EvalKind(), ProtocolKind(), AuditKind(), DistillKind(), *(TrainKind(n, t) for n, t in TRAINERS.items()))}
