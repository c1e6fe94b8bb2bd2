"""How long a training run took over all its sittings.

HF's `train_runtime` (and the run's own `wall_s`) count the sitting that finished the run: a run resumed from
checkpoint-50 reports the time of steps 51 onwards. `RunClock` writes, into each checkpoint the Trainer saves,
the wall seconds the run has spent up to that step over every sitting (CLOCK_FILE); a resumed sitting starts
from its checkpoint's figure. The total is the time of the steps the adapter is made of: work a kill threw away
after the last checkpoint is not in it (the steps were redone, and the redone ones are). A run resumed from a
checkpoint written before the clock existed has no whole-run figure: None, never a guess.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

CLOCK_FILE = "tinyreason_clock.json"


def read_clock(checkpoint: str | Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(checkpoint) / CLOCK_FILE).read_text())
        return {"wall_s": float(data["wall_s"]), "sittings": int(data["sittings"])}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class RunClock(TrainerCallback):
    def __init__(self, resume: str | None) -> None:
        before = read_clock(resume) if resume else {"wall_s": 0.0, "sittings": 0}
        self.base = None if before is None else before["wall_s"]
        self.sittings = None if before is None else before["sittings"] + 1
        self.t0 = time.perf_counter()

    def start(self) -> None:
        """Start this sitting's clock (call just before trainer.train)."""
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def total(self) -> dict[str, Any]:
        """The report's figures: whole-run wall seconds of the kept steps (None when a sitting's is unknown)."""
        if self.base is None:
            return {"wall_s_all_sittings": None, "sittings": None,
                    "wall_s_all_sittings_note": "resumed from a checkpoint without a clock: the earlier sittings' time is unknown"}
        return {"wall_s_all_sittings": round(self.base + self.elapsed(), 2), "sittings": self.sittings}

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.base is None:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            tmp = folder / f"{CLOCK_FILE}.tmp"
            tmp.write_text(json.dumps({"wall_s": round(self.base + self.elapsed(), 3), "sittings": self.sittings}) + "\n")
            os.replace(tmp, folder / CLOCK_FILE)
