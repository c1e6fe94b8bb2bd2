"""GSM8K from the Hugging Face Hub or a local JSONL file, gold parsing, and the seeded subset.

    load_problems("openai/gsm8k", split="test")        # Hub (datasets), config "main"
    load_problems("gsm8k:test")                         # the copy shipped in the package (sha256-pinned)
    load_problems(None, "test")                         # the Hub when reachable, else the shipped copy (said once)
    load_problems("path/to/test.jsonl")                 # local, same fields: question, answer
    ids = subset_ids(len(problems), limit=600, seed=42) # the same ids on every machine

The subset algorithm (documented in the README, stable across Python/numpy versions because it uses
only SHA-256): every row index i of the split gets the key sha256(f"tinyreason-subset:{seed}:{i}");
rows are ordered by key and the first `limit` are taken, in that order. A limit at or above the number
of rows takes every row (still in key order). The order matters: "the first 100 questions" of a run is
itself a uniformly random 100-subset, which the mirage check uses.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tinyreason.answers import parse_gold
from tinyreason.hub import HubUnreachable, require_hub
from tinyreason.types import Problem

HUB_DATASET = "openai/gsm8k"
HUB_CONFIG = "main"
SPLITS = ("test", "train")
# GSM8K as shipped in the package (data_files/gsm8k, MIT): each split pinned by the sha256 of its file
PACKAGED = {"test": "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
            "train": "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"}
PACKAGED_PREFIX = "gsm8k:"


class DataError(ValueError):
    """Bad input data, with the file, line and field named."""


@dataclass
class Dataset:
    """Problems of one split plus where they came from and what was skipped."""

    source: str
    split: str
    problems: list[Problem]
    skipped: list[str] = field(default_factory=list)  # human-readable "file:line: reason"
    task: dict | None = None  # a task file's fields (tinyreason.tasks); None for GSM8K as loaded here

    def fingerprint(self) -> str:
        """SHA-256 over ids, questions and golds: two runs on different data never look alike."""
        h = hashlib.sha256()
        for p in self.problems:
            h.update(f"{p.id}\x1f{p.question}\x1f{p.gold}\x1e".encode())
        return h.hexdigest()

    def by_id(self) -> dict[int, Problem]:
        return {p.id: p for p in self.problems}


def subset_ids(n_rows: int, limit: int | None, seed: int) -> list[int]:
    """The seeded subset of row indices (see module docstring for the algorithm)."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    order = sorted(range(n_rows), key=lambda i: hashlib.sha256(f"tinyreason-subset:{seed}:{i}".encode()).digest())
    return order if limit is None else order[:limit]


def _bad_row(where: str, reason: str, skip_bad_rows: bool, skipped: list[str]) -> None:
    if not skip_bad_rows:
        raise DataError(f"{where}: {reason} (fix the row, or pass --skip-bad-rows to skip and count it)")
    skipped.append(f"{where}: {reason}")


def _row_to_problem(row: object, idx: int, where: str, skip_bad_rows: bool, skipped: list[str]) -> Problem | None:
    def bad(reason: str) -> None:
        return _bad_row(where, reason, skip_bad_rows, skipped)

    if not isinstance(row, dict):
        return bad(f"expected a JSON object, got {type(row).__name__}")
    for key in ("question", "answer"):
        if key not in row:
            return bad(f"missing field '{key}'")
        if not isinstance(row[key], str) or not row[key].strip():
            return bad(f"field '{key}' must be a non-empty string")
    gold = parse_gold(row["answer"])
    if gold is None:
        return bad("field 'answer' has no number after '####' (GSM8K gold format: '... #### 42')")
    return Problem(id=idx, question=row["question"].strip(), gold=gold, solution=row["answer"])


def load_jsonl(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """Local GSM8K-format JSONL. A problem's id is its 0-based line number (the Hub split's row index).
    Blank lines at the end of the file are not rows; a blank line between rows is a bad row."""
    path = Path(path)
    _check_data_file(path)
    with path.open(encoding="utf-8") as fh:
        lines = list(fh)
    while lines and not lines[-1].strip():
        lines.pop()
    problems: list[Problem] = []
    skipped: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        idx = lineno - 1  # row index = 0-based line number, so ids match the Hub split's row order
        where = f"{path}:{lineno}"
        if not line.strip():
            _bad_row(where, "blank line (GSM8K JSONL has one object per line)", skip_bad_rows, skipped)
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            _bad_row(where, f"not valid JSON ({e.msg} at column {e.colno})", skip_bad_rows, skipped)
            continue
        p = _row_to_problem(row, idx, where, skip_bad_rows, skipped)
        if p is not None:
            problems.append(p)
    if not problems:
        raise DataError(f"{path}: no usable rows")
    return Dataset(source=str(path.resolve()), split=path.stem, problems=problems, skipped=skipped)


def _check_data_file(path: Path) -> None:
    if path.is_dir():
        found = sorted(path.glob("*.jsonl"))
        holds = f"; it holds {', '.join(map(str, found[:5]))}" if found else " (it holds no .jsonl file)"
        raise DataError(f"{path} is a directory: --data takes one GSM8K-format .jsonl file, e.g. --data {found[0] if found else 'DIR/test.jsonl'}{holds}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")


def load_hub(name: str = HUB_DATASET, split: str = "test", *, skip_bad_rows: bool = False) -> Dataset:
    """GSM8K from the Hub via `datasets` (config 'main'). Needs network on first use (then cached)."""
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}': choose one of {', '.join(SPLITS)}")
    try:
        require_hub(f"the dataset {name}")
    except HubUnreachable as e:
        raise DataError(str(e)) from None
    import datasets  # deferred: heavy import

    try:
        ds = datasets.load_dataset(name, HUB_CONFIG, split=split)
    except (ConnectionError, OSError) as e:
        raise DataError(
            f"could not load {name} ({HUB_CONFIG}, {split}) from the Hugging Face Hub: {e}. "
            "Without Hub access pass a local file: --data path/to/test.jsonl"
        ) from None
    problems: list[Problem] = []
    skipped: list[str] = []
    for idx, row in enumerate(ds):
        p = _row_to_problem(row, idx, f"{name}[{split}] row {idx}", skip_bad_rows, skipped)
        if p is not None:
            problems.append(p)
    return Dataset(source=f"hub:{name}/{HUB_CONFIG}", split=split, problems=problems, skipped=skipped)


def packaged_path(split: str) -> Path:
    if split not in PACKAGED:
        raise DataError(f"gsm8k:{split}: the package ships GSM8K's {' and '.join(PACKAGED)} splits (gsm8k:test, gsm8k:train)")
    return Path(__file__).resolve().parent / "data_files" / "gsm8k" / f"{split}.jsonl"


def data_file(data: str | None) -> Path | None:
    """The local file a data reference names (gsm8k:SPLIT: the packaged one); None for the Hub or a missing file."""
    if data is None:
        return None
    path = packaged_path(data[len(PACKAGED_PREFIX):]) if data.startswith(PACKAGED_PREFIX) else Path(data)
    return path if path.is_file() else None


def load_packaged(split: str, *, skip_bad_rows: bool = False) -> Dataset:
    """GSM8K as shipped in the package, its sha256 checked (a changed file is refused, never used)."""
    path = packaged_path(split)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if digest != PACKAGED[split]:
        raise DataError(f"{path}: the packaged GSM8K {split} split is {digest[:12]}, not the pinned {PACKAGED[split][:12]}: reinstall tinyreason")
    ds = load_jsonl(path, skip_bad_rows=skip_bad_rows)
    return Dataset(source=f"{PACKAGED_PREFIX}{split} (tinyreason's copy, sha256 {digest[:12]})", split=split, problems=ds.problems, skipped=ds.skipped)


def load_problems(data: str | None = None, split: str = "test", *, skip_bad_rows: bool = False) -> Dataset:
    """`data` is a local .jsonl path, `gsm8k:SPLIT` (the packaged copy), or a Hub dataset id. None: the
    Hub's openai/gsm8k when the Hub is reachable, else the packaged copy (said once on stderr)."""
    if data is None:
        return _default(split, skip_bad_rows)
    if data.startswith(PACKAGED_PREFIX):
        return load_packaged(data[len(PACKAGED_PREFIX):], skip_bad_rows=skip_bad_rows)
    if data.endswith(".jsonl") or Path(data).exists():
        return load_jsonl(data, skip_bad_rows=skip_bad_rows)
    return load_hub(data, split, skip_bad_rows=skip_bad_rows)


def _default(split: str, skip_bad_rows: bool) -> Dataset:
    from huggingface_hub import constants

    from tinyreason.hub import unreachable

    why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else unreachable(constants.ENDPOINT)
    if why is None:
        return load_hub(HUB_DATASET, split, skip_bad_rows=skip_bad_rows)
    _say_once(f"note: GSM8K {split} from tinyreason's packaged copy (gsm8k:{split}, sha256-pinned): the Hub is not reachable ({why})")
    return load_packaged(split, skip_bad_rows=skip_bad_rows)


@functools.lru_cache(maxsize=None)
def _say_once(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def select(dataset: Dataset, limit: int | None, seed: int, *, from_end: bool = False) -> list[Problem]:
    """The seeded subset of a dataset, in subset order. Ids are row indices (skipped rows keep theirs).
    `from_end` reads the seeded order from its end: a slice disjoint from the first rows of the same order
    (which training takes: SFT's first train_n, GRPO's dev slice and prompts), as long as the two fit the
    split. A smaller limit is still a prefix of a larger one."""
    by_id = dataset.by_id()
    order = subset_ids(max(by_id) + 1, None, seed)
    chosen = [by_id[i] for i in (reversed(order) if from_end else order) if i in by_id]
    return chosen if limit is None else chosen[:limit]
