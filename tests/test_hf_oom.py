"""The HF backend halves its batch on CUDA out-of-memory and continues (simulated OOM, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tinyreason.backends.hf import HFBackend
from tinyreason.types import SamplingParams


def test_oom_halves_batch_and_loses_nothing(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = HFBackend(model=str(tiny_model), dtype="float32", batch_size=8)
    chats = [[{"role": "user", "content": f"Question {i}: how many apples?" + " more" * i}] for i in range(6)]
    params = SamplingParams(max_new_tokens=8)
    expected = [[c.text for c in cs] for cs in b.generate(chats, params)]
    real = b._generate_batch
    sizes: list[int] = []

    def flaky(prompts, params, seed):
        sizes.append(len(prompts) * params.n)
        if len(prompts) * params.n > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(prompts, params, seed)

    monkeypatch.setattr(b, "_generate_batch", flaky)
    got = [[c.text for c in cs] for cs in b.generate(chats, params)]
    assert got == expected  # every prompt answered, in order
    assert b.batch_size == 2 and sizes[:3] == [6, 4, 2]  # 8 -> 4 -> 2 sequences


def test_oom_at_batch_one_is_raised(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = HFBackend(model=str(tiny_model), dtype="float32", batch_size=1)

    def always(prompts, params, seed):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(b, "_generate_batch", always)
    with pytest.raises(torch.OutOfMemoryError):
        b.generate([[{"role": "user", "content": "hi"}]], SamplingParams(max_new_tokens=4))


def test_oom_with_one_prompt_of_n_samples_is_raised_not_looped(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = HFBackend(model=str(tiny_model), dtype="float32", batch_size=4)
    calls: list[int] = []

    def always(prompts, params, seed):
        calls.append(len(prompts))
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(b, "_generate_batch", always)
    with pytest.raises(torch.OutOfMemoryError):
        b.generate([[{"role": "user", "content": "hi"}]] * 2, SamplingParams(n=4, temperature=0.7, max_new_tokens=4))
    assert calls == [1]
