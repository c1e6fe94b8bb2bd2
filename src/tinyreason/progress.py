"""Live generation progress: backends report what they generate as they go; whoever listens shows it.

    with progress.listening(lambda tokens, sequences: ...):   # evaluate's progress bar
        backend.generate(chats, params)                        # the backend calls progress.generated(...)

One generate call can take minutes (sc puts all n samples of a batch in one call), so a bar that moves only
when a batch ends looks dead. The hf backend reports every decoding step, the openai and openvino
backends every finished request; a backend that reports nothing still moves the bar once per batch (evaluate counts what
the batch generated). Reports may come from any thread (the openai backend's workers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tinyreason.types import Completion

Listener = Callable[[int, int], None]  # (tokens, sequences) generated since the last report

_listeners: list[Listener] = []
_lock = threading.Lock()


def generated(tokens: int = 0, sequences: int = 0) -> None:
    """Tell every listener that `tokens` more tokens were generated and `sequences` more sequences ended."""
    with _lock:
        listeners = list(_listeners)
    for listen in listeners:
        listen(tokens, sequences)


def completed(completions: list[Completion]) -> list[Completion]:
    """Report finished completions (their tokens and their number); returns them unchanged."""
    generated(tokens=sum(c.n_tokens for c in completions), sequences=len(completions))
    return completions


def active() -> bool:
    """Whether anyone listens (a backend may skip the work of reporting otherwise)."""
    return bool(_listeners)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)
