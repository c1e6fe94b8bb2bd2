"""Skip marker for tests that run programs in the bubblewrap sandbox: with the reason when it cannot run
here (CI installs bubblewrap, so there they run)."""

from __future__ import annotations

import pytest

from tinyreason.sandbox import SandboxUnavailable, check_isolation


def _reason() -> str | None:
    try:
        check_isolation("bwrap")
    except SandboxUnavailable as e:
        return str(e)
    return None


NO_SANDBOX = _reason()
needs_sandbox = pytest.mark.skipif(NO_SANDBOX is not None, reason=f"bubblewrap sandbox unavailable: {NO_SANDBOX}")
