"""The whole-run clock of a training run resumed across sittings (train/clock.py), without training."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from tinyreason.train.clock import CLOCK_FILE, RunClock, read_clock


def _save(clock: RunClock, out: Path, step: int, main: bool = True) -> Path:
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    clock.on_save(SimpleNamespace(output_dir=str(out)), SimpleNamespace(global_step=step, is_world_process_zero=main), None)
    return folder


def test_a_fresh_run_starts_at_zero_and_each_checkpoint_records_the_time_so_far(tmp_path: Path) -> None:
    clock = RunClock(None)
    clock.base, clock.t0 = 0.0, clock.t0 - 5.0  # as if 5 s had passed in this sitting
    folder = _save(clock, tmp_path, 2)
    saved = read_clock(folder)
    assert saved is not None and saved["sittings"] == 1 and 5.0 <= saved["wall_s"] < 6.0
    assert clock.total()["sittings"] == 1 and clock.total()["wall_s_all_sittings"] >= 5.0


def test_a_resumed_sitting_adds_to_its_checkpoints_figure(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / CLOCK_FILE).write_text(json.dumps({"wall_s": 100.0, "sittings": 1}))
    clock = RunClock(str(tmp_path / "checkpoint-4"))
    clock.t0 -= 3.0
    total = clock.total()
    assert total["sittings"] == 2 and 103.0 <= total["wall_s_all_sittings"] < 104.0
    saved = read_clock(_save(clock, tmp_path, 6))
    assert saved is not None and saved["sittings"] == 2 and saved["wall_s"] >= 103.0


def test_a_checkpoint_without_a_clock_gives_no_whole_run_figure_and_writes_none(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-4").mkdir()  # written before the clock existed
    clock = RunClock(str(tmp_path / "checkpoint-4"))
    total = clock.total()
    assert total["wall_s_all_sittings"] is None and total["sittings"] is None and "unknown" in total["wall_s_all_sittings_note"]
    assert read_clock(_save(clock, tmp_path, 6)) is None  # never a later checkpoint with a made-up figure


def test_only_the_main_process_writes(tmp_path: Path) -> None:
    clock = RunClock(None)
    assert read_clock(_save(clock, tmp_path, 2, main=False)) is None


def test_a_torn_clock_file_is_unknown_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / CLOCK_FILE).write_text("{not json")
    assert read_clock(tmp_path / "c") is None
