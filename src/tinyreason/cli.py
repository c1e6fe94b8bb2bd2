"""The `tinyreason` command line. Registers subcommands, defers heavy imports, holds no logic.

    tinyreason eval                                   # Qwen/Qwen2.5-0.5B-Instruct, GSM8K test, 600 questions, seed 42, greedy
    tinyreason eval --method sc --n 5 --temperature 0.7
    tinyreason eval --model ./qwen-dir --data ../shared/data/gsm8k/test.jsonl --limit 50 --out runs/local
    tinyreason metrics runs/local                      # recompute metrics.json from samples.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Can a small instruct LLM be made to reason? Measure it.")
console = Console()
DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", Path(model.rstrip("/")).name).strip("-").lower() or "model"


def _fail(msg: str) -> None:
    console.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(2)


def print_metrics(m: dict[str, Any], out: Path) -> None:
    lo, hi = m["ci95"]
    line = f"accuracy {m['accuracy']:.1%} ({m['correct']}/{m['total']}, 95% CI {lo:.1%}–{hi:.1%})"
    line += f" · strict {m['strict']['accuracy']:.1%}"
    if "pass_at_k" in m:
        line += f" · pass@k {m['pass_at_k']['accuracy']:.1%}"
    cost = f"cost {m['generated_tokens_per_question']:.0f} gen tok/q · {m.get('prompt_tokens_per_question', 0):.0f} prompt tok/q"
    cost += f" · {m['calls_per_question']:.2f} calls/q · wall {m.get('wall_time_s', 0):.0f} s"
    if m.get("tokens_per_s"):
        cost += f" · {m['tokens_per_s']:.1f} tok/s"
    console.print(f"[bold green]{line}[/]\n{cost} · truncated {m['truncated_questions']} · no answer {m['no_answer']}")
    from tinyreason.metrics import summary_lines

    for extra in summary_lines(m):
        console.print(extra)
    console.print(f"run directory: {out}")


def _method_options(option: list[str], **given: Any) -> dict[str, Any]:
    """Method options from the flags that were given (None = not given) and repeatable --option KEY=VALUE."""
    opts = {k: v for k, v in given.items() if v is not None}
    for kv in option:
        key, sep, val = kv.partition("=")
        if not sep:
            _fail(f"--option takes KEY=VALUE, got '{kv}'")
        try:
            opts[key] = json.loads(val)
        except json.JSONDecodeError:
            opts[key] = val
    return opts


def _backend_options(backend: str, model: str, *, adapter: str | None, base_url: str | None, **flags: Any) -> dict[str, Any]:
    """The options a backend takes; a flag meant for another backend is an error, never silently ignored."""
    opts: dict[str, Any] = {"model": model}
    if backend == "hf":
        opts.update(adapter=adapter, device=flags["device"], dtype=flags["dtype"], batch_size=flags["batch_size"])
    elif adapter:
        _fail(f"--adapter is only supported by the hf backend, not '{backend}'")
    if backend == "openai":
        opts.update(base_url=base_url, api_key_env=flags["api_key_env"], concurrency=flags["concurrency"])
    elif base_url:
        _fail(f"--base-url is only used by the openai backend, not '{backend}'")
    return opts


@app.command("eval")
def eval_cmd(
    model: str = typer.Option(DEFAULT_MODEL, help="Hub id, local model folder, or local .gguf file"),
    method: str = typer.Option("greedy", help="inference method (see `tinyreason methods`)"),
    n: Optional[int] = typer.Option(None, help="samples per question (sampling methods; sc default 5)"),
    temperature: Optional[float] = typer.Option(None, help="sampling temperature (sampling methods; default 0.7)"),
    top_p: Optional[float] = typer.Option(None, help="nucleus sampling threshold"),
    max_new_tokens: int = typer.Option(512, help="generation budget per completion"),
    prompt: Optional[str] = typer.Option(None, help="answer prompt template name (default: the method's, `cot` for most)"),
    option: list[str] = typer.Option([], "--option", "-o", help="extra method option KEY=VALUE (JSON value), repeatable"),
    limit: int = typer.Option(600, help="questions in the seeded subset (>= the split size takes all)"),
    seed: int = typer.Option(42, help="subset and sampling seed"),
    data: Optional[str] = typer.Option(None, help="local GSM8K .jsonl (default: openai/gsm8k from the Hub)"),
    split: str = typer.Option("test", help="Hub split: test or train"),
    out: Optional[Path] = typer.Option(None, help="run directory (default runs/<model>-<method>-<split><limit>-s<seed>)"),
    backend: str = typer.Option("hf", help="generation backend"),
    adapter: Optional[str] = typer.Option(None, help="PEFT adapter folder to load on top of --model (hf backend)"),
    device: str = typer.Option("auto", help="auto (cuda > mps > cpu), cuda, cuda:1, mps, cpu"),
    dtype: str = typer.Option("auto", help="auto, bfloat16, float16, float32"),
    batch_size: Optional[int] = typer.Option(None, help="sequences per generate call (default 64 on CUDA, 16 on CPU)"),
    skip_bad_rows: bool = typer.Option(False, help="skip malformed data rows (counted in metrics) instead of failing"),
    base_url: Optional[str] = typer.Option(None, help="server URL, e.g. http://127.0.0.1:8000/v1 (openai backend)"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="environment variable holding the API key (openai backend; never stored)"),
    concurrency: int = typer.Option(8, help="requests in flight at once (openai backend)"),
    force: bool = typer.Option(False, "--force", help="sc-verifier: run without a passing verifier audit (recorded in the run config)"),
) -> None:
    """Evaluate a model with one method on a seeded GSM8K subset. Rerun the same command to resume."""
    from tinyreason.backends import create_backend
    from tinyreason.data import DataError, load_problems
    from tinyreason.evaluate import evaluate
    from tinyreason.methods import create_method
    from tinyreason.runs import RunError

    opts = _method_options(option, max_new_tokens=max_new_tokens, seed=seed, prompt=prompt, n=n, temperature=temperature, top_p=top_p)
    if force:
        opts["force"] = True  # only methods with a gate take it: any other says so (unknown option)
    out = out or Path("runs") / f"{_slug(model)}-{method}-{split if data is None else Path(data).stem}{limit}-s{seed}"
    try:
        m = create_method(method, **opts)
        ds = load_problems(data, split, skip_bad_rows=skip_bad_rows)
        backend_opts = _backend_options(
            backend, model, adapter=adapter, device=device, dtype=dtype, batch_size=batch_size,
            base_url=base_url, api_key_env=api_key_env, concurrency=concurrency,
        )
        if adapter:
            from tinyreason.train.sft import adapter_prompt_warning

            warning = adapter_prompt_warning(adapter, m.templates()[0])
            if warning:
                console.print(f"[bold yellow]WARNING:[/] {warning}")
        b = create_backend(backend, **backend_opts)
        metrics = evaluate(b, m, ds, out, limit=limit, seed=seed, batch_size=batch_size or getattr(b, "batch_size", 16))
    except (ValueError, DataError, RunError, OSError, ImportError) as e:
        _fail(str(e))
        return
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished questions are saved in {out}; rerun the same command to resume")
        raise typer.Exit(130) from None
    print_metrics(metrics, out)


@app.command("metrics")
def metrics_cmd(run_dir: Path = typer.Argument(..., help="run directory")) -> None:
    """Recompute metrics.json from samples.jsonl (no model needed)."""
    from tinyreason.metrics import compute_metrics
    from tinyreason.runs import RunDir, RunError

    try:
        run = RunDir(run_dir)
        cfg = run.config()
        samples = run.samples()
        m = compute_metrics(samples, expected_total=len(cfg["subset"]["ids"]))
        m["skipped_rows"] = len(cfg.get("skipped_rows", []))
        run.write_metrics(m)
    except RunError as e:
        _fail(str(e))
        return
    print_metrics(m, run_dir)


@app.command("methods")
def methods_cmd() -> None:
    """List the inference methods and their options."""
    from tinyreason.methods import method_names
    from tinyreason.methods.base import method_class

    for name in method_names():
        cls = method_class(name)
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        console.print(f"[bold]{name}[/] — {doc[0] if doc else ''}")
        for field, info in cls.Config.model_fields.items():
            console.print(f"    {field} = {info.default!r}: {info.description}")


from tinyreason import cli_distill  # noqa: E402,F401  (registers commands)
from tinyreason import cli_methods  # noqa: E402,F401  (registers commands)
from tinyreason import cli_analysis  # noqa: E402,F401  (registers commands)
from tinyreason import cli_train  # noqa: E402,F401  (registers commands)

if __name__ == "__main__":
    # Run as a script, this module is `__main__`, and the cli_* modules registered their commands on the
    # app of `tinyreason.cli`, a second copy: run that one.
    from tinyreason.cli import app as _registered_app

    _registered_app()
