"""A deterministic backend for tests and dry runs: answers come from a script, not a model.

    ScriptedBackend(responder=lambda chat, params, k: ["... #### 18"] * params.n)   # Python API
    tinyreason eval --backend scripted --model rules.json ...                         # from the CLI

rules.json is a list of {"match": "substring of the last user message", "responses": ["...", ...]};
the first rule whose `match` occurs answers, handing out its responses in order (cycling), one per
sample. No rule matching is an error, never a silent empty answer. Every call is recorded in `.calls`
so tests can assert how often a method went back to the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from tinyreason.backends.base import BackendConfig, ConfiguredBackend
from tinyreason.types import Chat, Completion, SamplingParams

Responder = Callable[[Chat, SamplingParams, int], list[str]]


class ScriptedConfig(BackendConfig):
    model: str = Field(description="a rules .json file: [{'match': substring, 'responses': [...]}, ...]")


class ScriptedBackend(ConfiguredBackend):
    name = "scripted"
    Config = ScriptedConfig

    def __init__(self, config: ScriptedConfig | None = None, *, responder: Responder | None = None, **options: Any) -> None:
        """From a rules file (`model=...` or a Config), or, from Python only, a `responder` callable."""
        if responder is not None and (config is not None or options):
            raise ValueError("ScriptedBackend needs exactly one of: model (a rules .json file) or responder")
        if responder is None:
            super().__init__(config, **options)
        model = None if responder is not None else self.config.model
        self.model_name = model or "responder"
        self.calls: list[tuple[Chat, SamplingParams]] = []
        self._rules: list[dict[str, Any]] = []
        self._cursor: dict[int, int] = {}
        if model is not None:
            self._rules = self._load_rules(Path(model))
        self._responder = responder or self._from_rules

    @staticmethod
    def _load_rules(path: Path) -> list[dict[str, Any]]:
        rules = json.loads(path.read_text())
        if not isinstance(rules, list):
            raise ValueError(f"{path}: expected a JSON list of {{'match', 'responses'}} rules")
        for i, r in enumerate(rules):
            if not isinstance(r, dict) or not isinstance(r.get("match"), str) or not isinstance(r.get("responses"), list) or not r["responses"]:
                raise ValueError(f"{path}: rule {i} needs 'match' (string) and 'responses' (non-empty list)")
        return rules

    def _from_rules(self, chat: Chat, params: SamplingParams, k: int) -> list[str]:
        last = chat[-1]["content"]
        for i, rule in enumerate(self._rules):
            if rule["match"] in last:
                out = []
                for _ in range(params.n):
                    c = self._cursor.get(i, 0)
                    out.append(rule["responses"][c % len(rule["responses"])])
                    self._cursor[i] = c + 1
                return out
        raise KeyError(f"scripted backend: no rule matches prompt {last[:80]!r}")

    @classmethod
    def describe_config(cls, config: ScriptedConfig) -> dict[str, Any]:
        return {"backend": cls.name, "model": config.model}

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name}

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        results = []
        for chat in chats:
            k = len(self.calls)
            self.calls.append((chat, params))
            texts = self._responder(chat, params, k)
            if len(texts) != params.n:
                raise ValueError(f"scripted responder returned {len(texts)} texts for n={params.n}")
            results.append([self._completion(t, chat, params) for t in texts])
        return results

    def _completion(self, text: str, chat: Chat, params: SamplingParams) -> Completion:
        # "tokens" are whitespace words: deterministic and good enough for accounting tests
        words = text.split()
        prompt_tokens = sum(len(m["content"].split()) for m in chat)
        if len(words) > params.max_new_tokens:
            return Completion(" ".join(words[: params.max_new_tokens]), params.max_new_tokens, "length", prompt_tokens)
        return Completion(text, len(words) + 1, "stop", prompt_tokens)
