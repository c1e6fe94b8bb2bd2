"""Typed backend configs (an unknown option is an error naming the valid ones, for every backend) and
`--backend auto` (which backend it picks on which machine, why, and that the run config records it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import fake_vllm
from tinyreason.backends import auto
from tinyreason.backends.base import backend_config, backend_names, create_backend
from tinyreason.cli import app

ENGINE_BACKENDS = ["hf", "openvino", "vllm", "llamacpp", "openai", "scripted"]


@pytest.mark.parametrize("name", ENGINE_BACKENDS)
def test_unknown_option_names_the_valid_ones(name: str) -> None:
    fields = list(backend_config(name).model_fields)
    with pytest.raises(ValueError) as e:
        create_backend(name, model="m", base_url="http://x/v1", no_such_option=1) if name == "openai" else create_backend(name, model="m", no_such_option=1)
    msg = str(e.value)
    assert f"backend '{name}'" in msg and "no_such_option" in msg
    assert all(f in msg for f in fields), msg


def test_every_engine_backend_is_registered_and_readable_without_its_engine() -> None:
    assert set(ENGINE_BACKENDS) | {"auto"} <= set(backend_names())
    assert backend_config("openvino").model_fields["weight_format"].default == "int8"
    assert backend_config("vllm").model_fields["tensor_parallel_size"].default == 1
    with pytest.raises(ValueError, match="weight_format"):
        create_backend("openvino", model="m", weight_format="int3")


def _machine(monkeypatch: pytest.MonkeyPatch, *, cuda: bool, installed: set[str], server: bool) -> None:
    monkeypatch.setattr(auto, "_cuda", lambda: cuda)
    monkeypatch.setattr(auto, "_installed", lambda module: module in installed)
    monkeypatch.setattr("tinyreason.backends.llamacpp.find_server", lambda s: "/usr/bin/llama-server" if server else None)


@pytest.mark.parametrize(
    "cuda, installed, server, model, expected",
    [
        (True, {"vllm", "openvino_genai"}, True, "org/model", "vllm"),
        (True, set(), True, "org/model", "hf"),
        (False, {"vllm", "openvino_genai"}, False, "org/model", "openvino"),
        (False, set(), False, "org/model", "hf"),
        (False, {"openvino_genai"}, True, "m.gguf", "llamacpp"),
        (True, {"vllm"}, False, "m.gguf", "hf"),
    ],
)
def test_auto_picks_by_machine_and_model(monkeypatch: pytest.MonkeyPatch, cuda: bool, installed: set[str], server: bool, model: str,
                                         expected: str) -> None:
    _machine(monkeypatch, cuda=cuda, installed=installed, server=server)
    name, reason = auto.resolve_backend({"model": model})
    assert name == expected and reason


def test_auto_skips_a_backend_that_does_not_take_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, cuda=False, installed={"openvino_genai"}, server=False)
    name, reason = auto.resolve_backend({"model": "org/model", "dtype": "float32"})
    assert name == "hf" and "openvino" in reason and "dtype" in reason
    name, _ = auto.resolve_backend({"model": "org/model", "adapter": "runs/lora"})
    assert name == "openvino"  # it merges the adapter before export
    _machine(monkeypatch, cuda=False, installed=set(), server=True)
    name, reason = auto.resolve_backend({"model": "m.gguf", "adapter": "runs/lora"})
    assert name == "hf" and "adapter" in reason  # llama-server does not load adapters
    _machine(monkeypatch, cuda=False, installed={"openvino_genai"}, server=False)
    name, _ = auto.resolve_backend({"model": "org/model", "num_threads": 2})
    assert name == "openvino"
    with pytest.raises(ValueError, match="no backend that takes these options"):
        auto.resolve_backend({"model": "org/model", "no_such_option": 1})


def test_auto_backend_delegates_and_records_its_choice(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    _machine(monkeypatch, cuda=True, installed={"vllm"}, server=False)
    fake_vllm.install(monkeypatch)
    b = create_backend("auto", model=str(tiny_model), tensor_parallel_size=2)
    assert b.inner.name == "vllm" and fake_vllm.LLM.instances[-1].engine_args["tensor_parallel_size"] == 2
    d = b.describe()
    assert d["backend"] == "vllm" and d["auto"] == {"chosen": "vllm", "reason": "a CUDA GPU and vllm is installed"}
    assert b.batch_size == 1024 and b.render([{"role": "user", "content": "hi"}]).endswith("<|im_start|>assistant\n")


def test_eval_defaults_to_auto_and_stores_the_choice(monkeypatch: pytest.MonkeyPatch, tiny_model: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    _machine(monkeypatch, cuda=False, installed={"openvino_genai"}, server=False)
    out = tmp_path / "run"
    args = ["eval", "--model", str(tiny_model), "--data", str(gsm8k_file), "--out", str(out), "--dtype", "float32", "--limit", "2",
            "--max-new-tokens", "4"]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    backend = json.loads((out / "config.json").read_text())["backend"]
    assert backend["backend"] == "hf" and backend["auto"]["chosen"] == "hf"
    assert "openvino" in backend["auto"]["reason"] and "dtype" in backend["auto"]["reason"]


def test_vllm_backend_maps_params_lora_and_engine_args(monkeypatch: pytest.MonkeyPatch, tiny_model: Path, tmp_path: Path) -> None:
    fake_vllm.install(monkeypatch)
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    with pytest.raises(FileNotFoundError, match="not a LoRA adapter folder"):
        create_backend("vllm", model=str(tiny_model), adapter=str(adapter), dtype="bfloat16")
    (adapter / "adapter_config.json").write_text("{}")
    b = create_backend("vllm", model=str(tiny_model), adapter=str(adapter), dtype="bfloat16")
    llm = fake_vllm.LLM.instances[-1]
    assert llm.engine_args["enable_lora"] and llm.engine_args["enable_prefix_caching"]
    assert llm.engine_args["generation_config"] == "vllm" and llm.engine_args["dtype"] == "bfloat16"
    from tinyreason.types import SamplingParams

    b.generate([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]], SamplingParams(n=4, temperature=0.7, top_p=0.9, seed=3))
    call = llm.calls[-1]
    assert [sp.seed for sp in call["sampling_params"]] == [3, 4] and call["sampling_params"][0].n == 4
    assert call["sampling_params"][0].temperature == 0.7 and call["sampling_params"][0].top_p == 0.9
    assert set(call["sampling_params"][0].stop_token_ids) == set(b.eos_ids) and call["lora_request"].lora_path == str(adapter.resolve())
    assert b.describe()["adapter_sha256"] and b.describe()["engine"] == "vllm 0.0.0-fake"
    b.generate([[{"role": "user", "content": "a"}]], SamplingParams())
    assert llm.calls[-1]["sampling_params"][0].seed is None and llm.calls[-1]["sampling_params"][0].temperature == 0


def test_engines_refuse_adapters_with_the_fix() -> None:
    with pytest.raises(ValueError, match="merge it first"):
        create_backend("llamacpp", model="m.gguf", adapter="runs/lora")


def test_eval_auto_runs_openvino_end_to_end(monkeypatch: pytest.MonkeyPatch, tiny_model: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino_genai", reason="openvino backend: pip install 'tinyreason[openvino]'")
    _machine(monkeypatch, cuda=False, installed={"openvino_genai"}, server=False)
    monkeypatch.setenv("TINYREASON_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["eval", "--model", str(tiny_model), "--data", str(gsm8k_file), "--out", str(out), "--limit", "3", "--max-new-tokens", "6",
            "-b", "num_threads=2"]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["backend"]["backend"] == "openvino" and cfg["backend"]["auto"]["chosen"] == "openvino"
    assert cfg["backend"]["weight_format"] == "int8" and cfg["backend"]["engine"].startswith("openvino-genai")
    assert Path(cfg["backend"]["openvino_model"]).is_relative_to(tmp_path / "cache")
    assert cfg["example_prompt"].startswith("<|im_start|>system") and json.loads((out / "metrics.json").read_text())["total"] == 3


def test_how_auto_chose_is_not_part_of_a_runs_identity(monkeypatch: pytest.MonkeyPatch, tiny_model: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    """A run started by `--backend auto` (which chose hf) resumes under `--backend hf`, and the reverse."""
    _machine(monkeypatch, cuda=False, installed=set(), server=False)
    out = tmp_path / "run"
    base = ["eval", "--model", str(tiny_model), "--data", str(gsm8k_file), "--out", str(out), "--dtype", "float32", "--max-new-tokens", "4"]
    assert CliRunner().invoke(app, [*base, "--limit", "2"], catch_exceptions=False).exit_code == 0
    res = CliRunner().invoke(app, [*base, "--limit", "2", "--backend", "hf"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    changed = [a if a != "float32" else "bfloat16" for a in base]  # what generates changed: refused
    res = CliRunner().invoke(app, [*changed, "--limit", "2", "--backend", "hf"], catch_exceptions=False)
    assert res.exit_code == 2 and "different run" in res.output and "dtype" in res.output


def test_vllm_data_parallel_replicas_split_prompts_and_keep_order(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    """data_parallel_size=3: three engine processes (spawned children get this sys.path, so they import the
    fake vllm package), each with its own GPUs; the results equal one engine's, in prompt order."""
    from tinyreason.backends.vllm_replicas import replica_gpus, shards
    from tinyreason.types import SamplingParams

    assert replica_gpus("4,5,6,7", 2, 2) == ["4,5", "6,7"] and replica_gpus(None, 3, 1) == ["0", "1", "2"]
    with pytest.raises(ValueError, match="need 4 GPUs"):
        replica_gpus("0,1,2", 2, 2)
    assert [list(r) for r in shards(5, 3)] == [[0, 1], [2, 3], [4]] and [len(r) for r in shards(1, 3)] == [1, 0, 0]
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fake_vllm_pkg"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    fake_vllm.install(monkeypatch)  # default vocabulary: the children's fake has the same
    chats = [[{"role": "user", "content": f"question {i}"}] for i in range(7)]
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=10, seed=4)
    single = create_backend("vllm", model=str(tiny_model)).generate(chats, params)
    pooled = create_backend("vllm", model=str(tiny_model), data_parallel_size=3)
    try:
        assert pooled.llm is None and len(pooled.replicas.procs) == 3
        assert pooled.generate(chats, params) == single
    finally:
        pooled.close()


def test_llamacpp_ctrl_c_does_not_wait_for_requests_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt while slots are busy propagates at once; it used to wait for every hung request."""
    import threading
    import time

    from tinyreason.backends.llamacpp import LlamaCppBackend, LlamaCppConfig
    from tinyreason.types import SamplingParams

    b = object.__new__(LlamaCppBackend)  # no server: only the request pool is under test
    b.config = LlamaCppConfig(model="m.gguf", parallel=4)
    release = threading.Event()

    def complete(prompt: list[int], params: SamplingParams, seed: int) -> Any:
        if seed == 0:
            time.sleep(0.2)
            raise KeyboardInterrupt
        release.wait(30)  # a request the server never answers (until the test ends)

    monkeypatch.setattr(b, "encode", lambda chats: [[1, 2]] * len(chats), raising=False)
    monkeypatch.setattr(b, "_complete", complete, raising=False)
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            b.generate([[{"role": "user", "content": "q"}]] * 4, SamplingParams())
        assert time.perf_counter() - t0 < 5
    finally:
        release.set()
