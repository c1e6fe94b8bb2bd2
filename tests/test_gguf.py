"""The GGUF path of the HF backend, with no download: the tiny random Qwen2 is converted to a float32 GGUF
(tests/tiny.py `build_tiny_gguf`) and loaded through transformers' `gguf_file=`; it must tokenize, render and
generate exactly as the folder it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tinyreason.backends.hf import HFBackend
from tinyreason.cli import app
from tinyreason.types import SamplingParams

from tiny import build_tiny_gguf

CHATS = [
    [{"role": "user", "content": "How many apples?"}],
    [{"role": "user", "content": "A box holds 12 eggs. How many eggs are in 5 boxes?"}],
    [{"role": "system", "content": "Think step by step."}, {"role": "user", "content": "Tom had $20 and spent $8."}],
]
TEXTS = [
    "Janet has 3 apples and buys 4 more. #### 7",
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "  odd   spacing\n\n\ttabs \\boxed{42}",
    "café 😀 1,200",
]


@pytest.fixture(scope="module")
def gguf_file(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A folder of its own: nothing from the HF folder (config.json, generation_config.json) can leak in.
    return build_tiny_gguf(tiny_model, tmp_path_factory.mktemp("tiny-gguf") / "tiny-qwen2-f32.gguf")


@pytest.fixture(scope="module")
def pair(tiny_model: Path, gguf_file: Path) -> tuple[HFBackend, HFBackend]:
    return HFBackend(model=str(gguf_file), dtype="float32"), HFBackend(model=str(tiny_model), dtype="float32")


def test_gguf_loads_the_same_model(pair: tuple[HFBackend, HFBackend]) -> None:
    g, h = pair
    assert g.model.__class__.__name__ == "Qwen2ForCausalLM"
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "max_position_embeddings", "tie_word_embeddings", "eos_token_id", "pad_token_id"):
        assert getattr(g.model.config, key) == getattr(h.model.config, key), key
    sg, sh = g.model.state_dict(), h.model.state_dict()
    assert sorted(sg) == sorted(sh)
    for k in sh:
        assert torch.equal(sg[k], sh[k]), k  # F32 tensors, and no q/k permutation for qwen2: bit-exact
    enc = h.tokenizer(h.render(CHATS[0]), return_tensors="pt")
    with torch.inference_mode():
        assert torch.equal(g.model(**enc).logits, h.model(**enc).logits)


def test_gguf_tokenizes_and_renders_the_same(pair: tuple[HFBackend, HFBackend]) -> None:
    g, h = pair
    assert type(g.tokenizer).__name__ == type(h.tokenizer).__name__
    assert len(g.tokenizer) == len(h.tokenizer)
    for text in TEXTS:
        ids = h.tokenizer(text, add_special_tokens=True)["input_ids"]
        assert g.tokenizer(text, add_special_tokens=True)["input_ids"] == ids, text
        assert g.tokenizer.decode(ids) == h.tokenizer.decode(ids)
    for chat in CHATS:
        assert g.render(chat) == h.render(chat)
    assert (g.tokenizer.eos_token, g.tokenizer.pad_token, g.tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
    # A GGUF holds one EOS id; the backend adds ChatML's other end marker so both stop alike.
    assert set(g.eos_ids) == set(h.eos_ids) == {g.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}


@pytest.mark.xfail(reason="transformers rebuilds a GGUF byte-level tokenizer without Qwen2's NFC normalizer", strict=False)
def test_gguf_tokenizer_normalizes_nfc(pair: tuple[HFBackend, HFBackend]) -> None:
    g, h = pair
    decomposed = "cafe\u0301"  # e + combining acute: the folder's tokenizer NFC-normalizes it to "café" first
    assert g.tokenizer(decomposed)["input_ids"] == h.tokenizer(decomposed)["input_ids"]


def test_gguf_greedy_generations_match(pair: tuple[HFBackend, HFBackend]) -> None:
    g, h = pair
    params = SamplingParams(max_new_tokens=16)
    assert g.generate(CHATS, params) == h.generate(CHATS, params)


def test_missing_gguf_is_a_clear_error(tmp_path: Path, gsm8k_file: Path) -> None:
    missing = tmp_path / "nope" / "model-q4_k_m.gguf"
    with pytest.raises(FileNotFoundError, match="GGUF file not found: .*model-q4_k_m.gguf"):
        HFBackend(model=str(missing), dtype="float32")
    args = ["eval", "--model", str(missing), "--data", str(gsm8k_file), "--out", str(tmp_path / "run")]
    res = CliRunner().invoke(app, [*args, "--backend", "hf"])
    assert res.exit_code == 2 and "GGUF file not found" in res.output
    # --backend auto sends a .gguf to llama.cpp where llama-server is installed, else to hf: clear either way
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "not found" in res.output and "model-q4_k_m.gguf" in res.output and not (tmp_path / "run").exists()


def test_eval_cli_runs_on_a_gguf(gguf_file: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "gguf-greedy"
    args = ["eval", "--model", str(gguf_file), "--data", str(gsm8k_file), "--out", str(out),
            "--dtype", "float32", "--max-new-tokens", "16", "--limit", "3"]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["backend"]["model"] == str(gguf_file) and cfg["example_prompt"].startswith("<|im_start|>system")
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and all(s["generations"][0]["n_tokens"] >= 1 for s in samples)
    m = json.loads((out / "metrics.json").read_text())
    assert m["total"] == 3 and m["complete"]
