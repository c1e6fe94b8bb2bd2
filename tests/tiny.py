"""Builders for the test fixtures: a tiny random Qwen2 model with a tokenizer trained on the fly, and a
small GSM8K-format JSONL. No network; a few seconds on a CPU.

The tokenizer uses Qwen2's own pipeline (NFC, the Qwen2 split regex, byte-level BPE) so that
AutoTokenizer reloads it as a Qwen2 tokenizer with identical token ids.
"""

from __future__ import annotations

import json
from pathlib import Path

QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

PROBLEMS = [
    ("Janet has 3 apples and buys 4 more. How many apples does she have?", "3 + 4 = <<3+4=7>>7\n#### 7"),
    ("A box holds 12 eggs. How many eggs are in 5 boxes?", "12 * 5 = <<12*5=60>>60\n#### 60"),
    ("Tom had $20 and spent $8. How much money is left?", "20 - 8 = <<20-8=12>>12\n#### 12"),
    ("A train travels 60 miles per hour for 3 hours. How far does it go?", "60 * 3 = <<60*3=180>>180\n#### 180"),
    ("Sara reads 15 pages a day. How many pages in 7 days?", "15 * 7 = <<15*7=105>>105\n#### 105"),
    ("There are 48 cookies shared by 6 kids. How many does each kid get?", "48 / 6 = <<48/6=8>>8\n#### 8"),
    ("A shirt costs $25 and is 20% off. What is the sale price?", "25 * 0.8 = <<25*0.8=20>>20\n#### 20"),
    ("Mike runs 2 miles on Monday and 3 times as far on Tuesday. How many miles in total?", "2 + 6 = <<2+6=8>>8\n#### 8"),
    ("A farm has 9 cows and 14 chickens. How many legs are there?", "9*4 + 14*2 = <<36+28=64>>64\n#### 64"),
    ("Lily saves $1,200 a year. How much in 3 years?", "1200 * 3 = <<1200*3=3600>>3600\n#### 3,600"),
    ("The temperature was 5 degrees and dropped 9 degrees. What is it now?", "5 - 9 = <<5-9=-4>>-4\n#### -4"),
    ("A pizza has 8 slices. Ben eats 3 and Ana eats 2. How many are left?", "8 - 5 = <<8-5=3>>3\n#### 3"),
]


def write_gsm8k_jsonl(path: Path, problems: list[tuple[str, str]] = PROBLEMS) -> Path:
    path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in problems))
    return path


def build_tokenizer(out: Path):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    corpus = [q + "\n" + a for q, a in PROBLEMS] * 4 + ["The answer is 18. Answer: #### \\boxed{42} step by step"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", additional_special_tokens=SPECIALS[1:]
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_tiny_qwen2(out: Path, seed: int = 0, initializer_range: float = 0.02) -> Path:
    """A 2-layer, 32-wide random Qwen2ForCausalLM plus its tokenizer, saved to `out`. A larger
    `initializer_range` gives logits a usable scale (the memorization tests need one)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out)
    torch.manual_seed(seed)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
        initializer_range=initializer_range,
    )
    model = Qwen2ForCausalLM(cfg)
    model.generation_config = GenerationConfig(eos_token_id=[eos, pad], pad_token_id=pad, do_sample=True, temperature=0.7, top_k=20)
    model.save_pretrained(out)
    return out


def build_tiny_gguf(model_dir: Path, out_file: Path) -> Path:
    """Convert the folder `build_tiny_qwen2` wrote into a float32 GGUF file at `out_file`.

    Writes what transformers' legacy GGUF reader (`modeling_gguf_pytorch_utils.load_gguf_checkpoint` for the
    config and weights, `integrations/gguf/gguf_tokenizer_mapping.py` for the tokenizer) reads for
    architecture `qwen2`, under llama.cpp's key and tensor names, as llama.cpp's convert_hf_to_gguf.py would.
    Tensors stay F32 in their Hugging Face shapes, so the round trip is exact. Qwen2 gets no q/k row
    permutation (that is llama's `LlamaTensorProcessor` only; transformers has no processor for qwen2).

    A GGUF carries a single EOS id: the generation config's second stop id (`<|endoftext|>`) does not survive.
    """
    import gguf
    import numpy as np
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tj = json.loads((model_dir / "tokenizer.json").read_text())
    arch = gguf.MODEL_ARCH.QWEN2
    out_file.parent.mkdir(parents=True, exist_ok=True)

    w = gguf.GGUFWriter(str(out_file), gguf.MODEL_ARCH_NAMES[arch])  # writes general.architecture = "qwen2"
    w.add_name("tiny-qwen2")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)

    # Tokenizer: byte-level BPE ("gpt2") with Qwen2's split regex ("qwen2"), tokens in id order as spelled in
    # tokenizer.json (byte-level alphabet), the special tokens marked CONTROL so they are kept whole.
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    assert [vocab[t] for t in tokens] == list(range(len(tokens))), "token ids must be contiguous"
    special = set(tok.all_special_tokens)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]])
    w.add_eos_token_id(tok.eos_token_id)
    w.add_pad_token_id(tok.pad_token_id)
    w.add_add_bos_token(False)  # Qwen2 has no BOS: none is written, none is added
    w.add_chat_template(tok.chat_template)

    # Weights: HF name -> llama.cpp name through gguf-py's own table (the one transformers inverts on load).
    names = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    for hf_name, t in load_file(str(model_dir / "model.safetensors")).items():
        if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # tied: no output.weight, which is how the reader infers tie_word_embeddings=True
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise KeyError(f"no GGUF name for {hf_name}")
        w.add_tensor(name, np.ascontiguousarray(t, dtype=np.float32), raw_dtype=gguf.GGMLQuantizationType.F32)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out_file
