"""How often does the arithmetic checker flag GSM8K's own reference solutions? (its false-positive ceiling)

    PYTHONPATH=src python benchmarks/claims_on_references.py ../shared/data/gsm8k/train.jsonl [--show]

Every flagged claim in a reference solution is either a typo in the reference or a false positive of
tinyreason.analysis.claims; read them with --show.
"""

from __future__ import annotations

import json
import sys
import time

from tinyreason.analysis.claims import claims


def main(path: str, show: bool) -> None:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    t0 = time.perf_counter()
    n_claims, flagged = 0, []
    for i, row in enumerate(rows):
        found = claims(row["answer"])
        n_claims += len(found)
        bad = [str(c) for c in found if not c.ok]
        if bad:
            flagged.append((i, bad))
    dt = time.perf_counter() - t0
    n_bad = sum(len(b) for _, b in flagged)
    print(f"{path}: {len(rows)} solutions, {n_claims} stated computations checked, {len(flagged)} solutions "
          f"({len(flagged) / len(rows):.2%}) / {n_bad} claims ({n_bad / max(1, n_claims):.3%}) flagged, {dt:.1f} s")
    if show:
        for i, bad in flagged:
            print(f"  row {i}: {'; '.join(bad)}")


if __name__ == "__main__":
    main(sys.argv[1], "--show" in sys.argv)
