"""Split the injection corpus into a tune half and a holdout half, once, before any rule was written.

  python -m benchmarks.injection_corpus.split          # writes tune.jsonl and holdout.jsonl beside corpus.jsonl
  python -m benchmarks.injection_corpus.split --check  # exit 1 if the committed files differ from the procedure

The procedure: group the texts by (label, shape), sort each group by id, shuffle it with `random.Random(SEED)`
(one generator, groups taken in sorted order), and put the first half of each group (rounded down) in tune, the
rest in holdout. Stratifying keeps both halves with the same mix of shapes and labels. The rule-based detector
(baton.detection.rules) was written and tuned looking at tune.jsonl only; holdout.jsonl is what `make bench`
reports on.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.jsonl"
TUNE = HERE / "tune.jsonl"
HOLDOUT = HERE / "holdout.jsonl"
SEED = 10  # the number: fixed before the split was made, never changed since


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split(rows: list[dict[str, Any]], seed: int = SEED) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["label"], row["shape"])].append(row)
    rng = random.Random(seed)  # noqa: S311 (a reproducible shuffle, not a secret)
    tune: list[dict[str, Any]] = []
    holdout: list[dict[str, Any]] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda r: r["id"])
        rng.shuffle(group)
        half = len(group) // 2
        tune += group[:half]
        holdout += group[half:]
    return sorted(tune, key=lambda r: r["id"]), sorted(holdout, key=lambda r: r["id"])


def _dump(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.injection_corpus.split")
    parser.add_argument("--check", action="store_true", help="compare with the committed split, write nothing")
    args = parser.parse_args(argv)
    tune, holdout = split(load(CORPUS))
    if args.check:
        same = TUNE.read_text(encoding="utf-8") == _dump(tune) and HOLDOUT.read_text(encoding="utf-8") == _dump(holdout)
        print("the committed split is the procedure's" if same else "the committed split differs from the procedure")
        return 0 if same else 1
    TUNE.write_text(_dump(tune), encoding="utf-8")
    HOLDOUT.write_text(_dump(holdout), encoding="utf-8")
    print(f"tune: {len(tune)} texts, holdout: {len(holdout)} texts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
