"""What every token-level backend (hf, openvino, vllm) does the same way: which ids end a completion, and
how generated ids become a Completion. One definition, so finish reasons and token counts agree in form
across backends (the contract suite checks it)."""

from __future__ import annotations

from typing import Any

from tinyreason.models import render_prompt
from tinyreason.types import Chat, Completion


class ChatTemplatePrompts:
    """Mixin: prompts rendered by the HF tokenizer's chat template and tokenized without adding special
    tokens (the template already holds them), so every token-level backend feeds the model the same ids."""

    tokenizer: Any

    def render(self, chat: Chat) -> str:
        """The exact prompt string the model sees (chat template + generation prompt)."""
        return render_prompt(self.tokenizer, chat)

    def encode(self, chats: list[Chat]) -> list[list[int]]:
        return [self.tokenizer(self.render(c), add_special_tokens=False)["input_ids"] for c in chats]


def stop_ids(tokenizer: Any, configured: int | list[int] | None) -> list[int]:
    """The model's configured EOS ids, the tokenizer's EOS, and for ChatML (Qwen) both <|im_end|> and
    <|endoftext|>: a GGUF or a sparse generation_config carries one EOS id, but the model may end with either."""
    ids = [configured] if isinstance(configured, int) else list(configured or [])
    extra = [tokenizer.eos_token_id]
    if "<|im_end|>" in (tokenizer.chat_template or ""):
        extra += [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    for t in extra:
        if isinstance(t, int) and t != tokenizer.unk_token_id and t not in ids:
            ids.append(t)
    return ids


def completion_from_ids(tokenizer: Any, eos: list[int], seq: list[int], max_new_tokens: int, prompt_tokens: int) -> Completion:
    """Generated ids -> Completion: text up to the first end marker (special tokens skipped), n_tokens
    counting that marker, "length" only when the budget ran out with no end marker."""
    eos_at = next((j for j, t in enumerate(seq) if t in eos), None)
    kept = seq if eos_at is None else seq[:eos_at]
    n_tokens = len(seq) if eos_at is None else eos_at + 1
    finish = "stop" if eos_at is not None or n_tokens < max_new_tokens else "length"
    return Completion(text=tokenizer.decode(kept, skip_special_tokens=True), n_tokens=n_tokens, finish_reason=finish, prompt_tokens=prompt_tokens)


def error_completion(message: str, prompt_tokens: int = 0) -> Completion:
    """A sample the backend could not produce: stored as an error, never as an answer."""
    return Completion(text="", n_tokens=0, finish_reason="error", prompt_tokens=prompt_tokens, error=message)
