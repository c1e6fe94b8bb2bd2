"""A backend for any OpenAI-compatible chat-completions server (vLLM, llama.cpp server, SGLang, TGI, OpenAI).

    export OPENAI_API_KEY=...            # the key comes from the environment only (name: --api-key-env)
    tinyreason eval --backend openai --model Qwen/Qwen2.5-0.5B-Instruct --base-url http://127.0.0.1:8000/v1
    OpenAIBackend(model="gpt-4o-mini", base_url="https://api.openai.com/v1", concurrency=8)   # Python API

How it works: one POST /chat/completions per prompt, asking for all `n` samples at once (`n` in the request);
at most `concurrency` requests are in flight, on daemon threads, so Ctrl-C returns at once even while a
server hangs (the requests in flight are abandoned; evaluate has saved every finished batch).
Retries are the openai client's own (`max_retries`, `timeout`, default 120 s a request): it retries 408/409/429/5xx, timeouts and connection errors with exponential
back-off (0.5 s doubling, capped at 8 s, with jitter) and honours a positive Retry-After / retry-after-ms
header (up to 60 s). When they are used up, that prompt gets Completion(finish_reason="error", error=...)
and the other prompts are unaffected. A 400/401/403/404/422 (bad key, unknown model, unsupported parameter)
or a reply that is not chat-completions JSON (a wrong URL) is a configuration problem that every prompt
would hit, so it raises OpenAIRequestError instead of being stored as an answer. A server that returns fewer than `n` choices is asked again for the missing ones (with a
different seed); if it still falls short the missing samples are error completions saying so.

Token accounting comes from the response's `usage`: prompt_tokens is the prompt length (stored on every
sample, as the hf backend does); completion_tokens is per request, so with n > 1 it is shared among the
choices in proportion to their text length (the sum is exact, the split an estimate).

The API key is read from the environment variable when the backend is created and only handed to the
client; it is never in describe(), in error messages (scrubbed), or anywhere the run writes.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import openai
from pydantic import Field

from tinyreason import progress
from tinyreason.backends.base import BackendConfig, ConfiguredBackend, FatalBackendError
from tinyreason.types import Chat, Completion, FinishReason, SamplingParams

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
NO_KEY = "EMPTY"  # local servers (vLLM, llama.cpp) accept any key; the client insists on a non-empty one


class OpenAIRequestError(ValueError):
    """The server answered in a way retrying cannot fix: a refusal (OpenAIConfigError) or a body that is not
    the chat-completions format (a wrong URL, usually: the questions of that batch are errors)."""


class OpenAIConfigError(OpenAIRequestError, FatalBackendError):
    """401/403/404/400/422: the key, model or request is wrong for every question, so the run stops."""


def public_url(url: str) -> str:
    """The base URL without credentials or query string (those can carry secrets), for describe()."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def split_tokens(total: int, texts: list[str]) -> list[int]:
    """Share a request's completion_tokens among its choices in proportion to text length (largest
    remainder, so the parts add up to `total`)."""
    if not texts:
        return []
    weights = [len(t) + 1 for t in texts]
    raw = [total * w / sum(weights) for w in weights]
    parts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: parts[i] - raw[i])[: total - sum(parts)]:
        parts[i] += 1
    return parts


def run_concurrently(fn: Callable[[T], R], items: list[T], workers: int) -> list[R]:
    """[fn(item) for item in items] on at most `workers` daemon threads, in order. The first exception (a
    fatal request error, or Ctrl-C in the calling thread) returns at once and starts no new call: requests
    still in flight are abandoned, never waited for (a hung server would hold Ctrl-C for minutes), and as
    daemon threads they cannot keep the process alive after it has saved its work and exits."""
    if not items:
        return []
    results: queue.Queue[tuple[int, Any, BaseException | None]] = queue.Queue()
    todo = iter(enumerate(items))
    lock, stop = threading.Lock(), threading.Event()

    def work() -> None:
        while not stop.is_set():
            with lock:
                job = next(todo, None)
            if job is None:
                return
            try:
                results.put((job[0], fn(job[1]), None))
            except BaseException as e:  # handed to the calling thread, which re-raises it
                results.put((job[0], None, e))

    for k in range(min(workers, len(items))):
        threading.Thread(target=work, name=f"openai-{k}", daemon=True).start()
    out: dict[int, R] = {}
    try:
        while len(out) < len(items):
            i, value, error = results.get()  # Ctrl-C interrupts this wait
            if error is not None:
                raise error
            out[i] = value
    finally:
        stop.set()
    return [out[i] for i in range(len(items))]


class OpenAIConfig(BackendConfig):
    base_url: str = Field(description="server URL, e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp server) or https://api.openai.com/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key (never stored)")
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    max_retries: int = Field(5, ge=0, description="retries of a request on 408/409/429/5xx, timeouts and connection errors")
    timeout: float = Field(120.0, gt=0, description="seconds one request may take before it is retried (max_retries), then recorded as an error")
    batch_size: int | None = Field(None, ge=1, description="sequences handed to the backend at once (default 8 x concurrency)")
    refill_rounds: int = Field(2, ge=0, description="extra requests when a server returns fewer than n choices")


class OpenAIBackend(ConfiguredBackend):
    name = "openai"
    Config = OpenAIConfig

    def __init__(self, config: OpenAIConfig | None = None, **options: Any) -> None:
        super().__init__(config, **options)
        c = self.config
        self.model_name = c.model
        self.base_url = c.base_url
        self.api_key_env = c.api_key_env
        self.concurrency = c.concurrency
        self.refill_rounds = c.refill_rounds
        # evaluate() hands the method this many sequences per batch; requests, not sequences, are what run
        # in parallel here, so a generous batch keeps every worker busy even for n > 1.
        self.batch_size = c.batch_size or 8 * c.concurrency
        self._key = os.environ.get(c.api_key_env) or ""
        self._client = openai.OpenAI(api_key=self._key or NO_KEY, base_url=c.base_url, max_retries=c.max_retries, timeout=c.timeout)
        self._warned_usage = False

    @classmethod
    def describe_config(cls, config: OpenAIConfig) -> dict[str, Any]:
        # what generates, nothing secret: no key, no URL credentials or query (retry/timeout settings do
        # not change what is generated, so a resumed run may change them)
        return {"backend": cls.name, "model": config.model, "base_url": public_url(config.base_url)}

    def describe(self) -> dict[str, Any]:
        return self.describe_config(self.config)

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        return run_concurrently(lambda chat: progress.completed(self._complete(chat, params)), chats, self.concurrency)

    def _complete(self, chat: Chat, params: SamplingParams) -> list[Completion]:
        """params.n completions for one chat: one request, plus refills if the server returned fewer."""
        got: list[Completion] = []
        for round_no in range(self.refill_rounds + 1):
            want = params.n - len(got)
            try:
                resp = self._request(chat, params, want, seed=params.seed + round_no)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError, openai.BadRequestError,
                    openai.UnprocessableEntityError) as e:
                raise OpenAIConfigError(self._fatal_message(e)) from None
            except openai.APIError as e:  # retries used up (429/5xx/timeout/connection)
                return got + [self._error(self._gave_up(e))] * want
            except json.JSONDecodeError:
                resp = None
            if not hasattr(resp, "choices"):  # HTML or plain text: almost always a wrong URL, so stop
                raise OpenAIRequestError(
                    f"{public_url(self.base_url)} did not answer in the chat-completions format (got {type(resp).__name__}: "
                    f"{self._scrub(str(resp))[:200]!r}); is --base-url right? It usually ends in /v1"
                )
            got += self._completions(resp, want)
            if len(got) >= params.n:
                return got[: params.n]
        short = f"the server returned {len(got)} of n={params.n} choices after {self.refill_rounds + 1} requests"
        return got + [self._error(short)] * (params.n - len(got))

    def _request(self, chat: Chat, params: SamplingParams, n: int, seed: int) -> Any:
        return self._client.chat.completions.create(
            model=self.model_name,
            messages=chat,  # type: ignore[arg-type]
            n=n,
            temperature=params.temperature,  # 0 = greedy
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,  # max_completion_tokens is OpenAI-only; servers speak max_tokens
            seed=seed,
        )

    def _completions(self, resp: Any, want: int) -> list[Completion]:
        choices = sorted(resp.choices or [], key=lambda c: c.index or 0)[:want]
        texts = [(c.message.content if c.message is not None else None) or "" for c in choices]
        usage = getattr(resp, "usage", None)
        if usage is None and not self._warned_usage:
            log.warning("%s returned no `usage`: token counts for this run are 0", public_url(self.base_url))
            self._warned_usage = True
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        shares = split_tokens(getattr(usage, "completion_tokens", 0) or 0, texts)
        out = []
        for c, text, n_tokens in zip(choices, texts, shares, strict=True):
            finish, error = self._finish(c.finish_reason)
            out.append(Completion(text=text, n_tokens=n_tokens, finish_reason=finish, prompt_tokens=prompt_tokens, error=error))
        return out

    @staticmethod
    def _finish(reason: str | None) -> tuple[FinishReason, str | None]:
        if reason == "length":
            return "length", None
        if reason in (None, "stop", "eos", "eos_token", "stop_sequence"):
            return "stop", None
        return "error", f"the server ended this completion with finish_reason={reason!r}"

    @staticmethod
    def _error(message: str) -> Completion:
        return Completion(text="", n_tokens=0, finish_reason="error", error=message)

    def _gave_up(self, e: openai.APIError) -> str:
        message = f"{type(e).__name__}: {self._scrub(str(e))}"
        if isinstance(e, openai.APITimeoutError):
            tries = self.config.max_retries + 1
            message += f" (no answer within --timeout {self.config.timeout:g} s, {tries} tries; a slow server needs a larger --timeout)"
        return message

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _fatal_message(self, e: openai.APIStatusError) -> str:
        hints = {
            401: f"the server rejected the API key: set the environment variable {self.api_key_env} (or pick another with --api-key-env)",
            403: f"the API key in {self.api_key_env} is not allowed to use model '{self.model_name}'",
            404: f"the server does not know model '{self.model_name}' or the URL is wrong (the base URL usually ends in /v1)",
        }
        hint = hints.get(e.status_code, "the server refused the request; retrying would not help (check --model and --max-new-tokens)")
        return f"{public_url(self.base_url)}: HTTP {e.status_code}: {hint}. Server said: {self._scrub(str(e))[:500]}"
