"""The openvino backend drives the engine step by step (add_request, then step() until no request is left)
instead of one blocking generate() call: what it returns must be what generate() returns, Ctrl-C must land
between two steps and leave the engine empty for the next call, and each request is reported to the
progress bar when it ends. On the tiny random Qwen2 exported as fp32 (skipped without openvino-genai)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tinyreason import progress
from tinyreason.backends import create_backend
from tinyreason.types import SamplingParams

CHATS = [
    [{"role": "user", "content": "How many apples?"}],
    [{"role": "user", "content": "A box holds 12 eggs. How many eggs are in 5 boxes?"}],
    [{"role": "system", "content": "Think step by step."}, {"role": "user", "content": "Tom had $20 and spent $8."}],
]


@pytest.fixture(scope="module")
def ov(tiny_model_wide_init: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("openvino_genai", reason="openvino backend: pip install 'tinyreason[openvino]'")
    return create_backend("openvino", model=str(tiny_model_wide_init), weight_format="fp32", inference_precision="f32",
                          kv_cache_precision="f32", cache_dir=str(tmp_path_factory.mktemp("ov-cache")), num_threads=2)


class CountingPipe:
    """The real pipeline, counting steps; `interrupt_after` sends this process a real SIGINT after that step."""

    def __init__(self, real: Any, interrupt_after: int | None = None) -> None:
        self.real, self.interrupt_after, self.steps = real, interrupt_after, 0

    def step(self) -> None:
        self.real.step()
        self.steps += 1
        if self.steps == self.interrupt_after:
            signal.raise_signal(signal.SIGINT)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize("params", [SamplingParams(max_new_tokens=24), SamplingParams(n=3, temperature=1.0, max_new_tokens=16, seed=7),
                                    SamplingParams(n=10, temperature=100.0, max_new_tokens=48, seed=5)], ids=["greedy", "n3", "hot-n10"])
def test_the_step_loop_returns_what_the_engines_generate_returns(ov: Any, params: SamplingParams) -> None:
    prompts = ov.encode(CHATS)
    configs = [ov._generation_config(params, seed=params.seed + i) for i in range(len(prompts))]
    ours = ov._run(prompts, configs)
    theirs = ov._pipe.generate([ov._tensor(p) for p in prompts], configs)  # the engine's own loop, same requests
    assert [[list(o.generated_ids) for o in outs] for outs in ours] == [[list(ids) for ids in r.m_generation_ids] for r in theirs]
    reasons = [[str(o.finish_reason).rsplit(".", 1)[-1] for o in outs] for outs in ours]
    assert reasons == [[str(f).rsplit(".", 1)[-1] for f in r.finish_reasons] for r in theirs]
    if params.n == 10:  # the hot draws end at different lengths, so the order is a real check
        assert any(len({len(o.generated_ids) for o in outs}) > 1 for outs in ours)


def test_ctrl_c_lands_between_steps_and_the_engine_is_empty_after(ov: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=64, seed=3)
    counted = CountingPipe(ov._pipe)
    monkeypatch.setattr(ov, "_pipe", counted)
    expected = ov.generate(CHATS, params)
    full = counted.steps
    assert full > 20  # one step per token at least: the batch is long enough to interrupt inside it

    interrupted = CountingPipe(counted.real, interrupt_after=3)
    monkeypatch.setattr(ov, "_pipe", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ov.generate(CHATS, params)
    assert interrupted.steps < full // 2  # it stopped within the batch (3 steps + the clean-up), not at its end
    assert not ov._pipe.has_non_finished_requests()
    assert ov.generate(CHATS, params) == expected  # the next call is unaffected by the abandoned one


def test_each_request_is_reported_when_it_ends(ov: Any) -> None:
    reports: list[tuple[int, int]] = []
    params = SamplingParams(n=10, temperature=100.0, max_new_tokens=48, seed=5)
    with progress.listening(lambda tokens, sequences: reports.append((tokens, sequences))):
        outs = ov.generate(CHATS, params)
    assert len(reports) == len(CHATS) and all(seqs == params.n for _, seqs in reports)
    assert sum(t for t, _ in reports) == sum(c.n_tokens for cs in outs for c in cs)
