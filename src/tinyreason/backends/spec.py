"""One string names a backend and its model, for commands that take a teacher (or any second model).

    parse_backend_spec("openai:gpt-4o-mini@https://api.openai.com/v1")  -> ("openai", {"model": ..., "base_url": ...})
    parse_backend_spec("hf:Qwen/Qwen2.5-7B-Instruct")                  -> ("hf", {"model": "Qwen/Qwen2.5-7B-Instruct"})
    create_backend_from_spec("scripted:rules.json")                    -> a ScriptedBackend

The form is NAME:MODEL for every registered backend, and NAME:MODEL@URL for the openai backend (the URL is
everything after the first "@" that starts http:// or https://, so a URL may itself hold an "@"). Options a
spec cannot say (concurrency, dtype, ...) are keyword arguments. An API key never goes in a spec: the
openai backend reads it from an environment variable.
"""

from __future__ import annotations

import re
from typing import Any

from tinyreason.backends.base import Backend, backend_names, create_backend

FORMS = (
    "  openai:MODEL@BASE_URL   an OpenAI-compatible server, e.g. openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1\n"
    "                          (API key from $OPENAI_API_KEY, or the variable named by --api-key-env)\n"
    "  hf:MODEL                a Hub id, local model folder or .gguf file, e.g. hf:Qwen/Qwen2.5-1.5B-Instruct\n"
    "  scripted:RULES.json     the deterministic test backend\n"
    "  NAME:MODEL              any other registered backend"
)
_OPENAI = re.compile(r"(?P<model>[^@]+?)@(?P<url>https?://\S+)")


def parse_backend_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """'NAME:MODEL[@URL]' -> (backend name, options for create_backend). Errors list the valid forms."""
    name, sep, rest = spec.partition(":")
    name, rest = name.strip(), rest.strip()
    if not sep or not name or not rest:
        raise ValueError(f"backend spec '{spec}' is not NAME:MODEL; use one of:\n{FORMS}")
    if name not in backend_names():
        raise ValueError(f"backend spec '{spec}': unknown backend '{name}' (registered: {', '.join(backend_names())}); forms:\n{FORMS}")
    if name == "openai":
        m = _OPENAI.fullmatch(rest)
        if m is None:
            raise ValueError(f"backend spec '{spec}': the openai backend needs MODEL@BASE_URL (URL starting http:// or https://); forms:\n{FORMS}")
        return name, {"model": m["model"], "base_url": m["url"]}
    return name, {"model": rest}


def create_backend_from_spec(spec: str, **options: Any) -> Backend:
    """Parse `spec` and create the backend; `options` add to (never override) what the spec names."""
    name, opts = parse_backend_spec(spec)
    clash = sorted(set(opts) & set(options))
    if clash:
        raise ValueError(f"backend spec '{spec}' already sets {', '.join(clash)}")
    return create_backend(name, **opts, **options)
