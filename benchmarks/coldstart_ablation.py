"""What each cold-start change is worth: the Lambda-like cold start with one change undone at a time.

    python -m benchmarks.coldstart_ablation [--rounds N] [--json FILE]

Each variant is the current asset of each function (benchmarks/lambda_like.py, compiled layout) with one change
undone by a textual edit of the asset's copy of a source (never of the working tree), then measured as the
`init` and `imports` sections of `make bench` measure (medians of N rounds, every variant beside the same
baselines in each round). A variant whose edit no longer applies (the code moved on) reads n/a. The variants
named "+ ..." go the other way: a change to a file outside the cold-start work, applied to the asset's copy only,
to size it. Not part of `make bench`: an analysis, a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.lambda_like import (
    HANDLER_MODULE,
    KINDS,
    PLACE,
    lambda_env,
    lay_out_assets,
    median,
    prepare,
    probe,
    record,
)

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = [f"baton/functions/{kind}/handler.py" for kind in KINDS]
Edit = tuple[str, str, str]  # (file in the asset, text, replacement)


def _git(path: str) -> str:
    """The committed version of a working-tree file (HEAD)."""
    done = subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, text=True, cwd=ROOT, check=True)
    return done.stdout


# name -> (what it undoes, the edits: each replaces text in one of the asset's files; "*" replaces the whole file)
VARIANTS: dict[str, tuple[str, list[Edit]]] = {
    "current": ("nothing undone", []),
    "no GC pause": (
        "the collector runs during the cold start",
        [(path, "    gc.disable()", "    pass") for path in HANDLERS],
    ),
    "eager Tracer, patch_all": (
        "Powertools' Tracer built at import, patching every library X-Ray supports",
        [
            ("baton/observability.py", 'TRACED_MODULES = ("botocore", "httplib")', "TRACED_MODULES = None"),
            (
                "baton/observability.py",
                'tracer = LazyTracer(service="baton")',
                'tracer = LazyTracer(service="baton")\ntracer.get()',
            ),
        ],
    ),
    "lazy Tracer, patch_all": (
        "X-Ray patches every library it supports (sqlite3 among them), not only botocore and httplib",
        [("baton/observability.py", 'TRACED_MODULES = ("botocore", "httplib")', "TRACED_MODULES = None")],
    ),
    "no defer_build": (
        "every model's validator built when its module is imported",
        [
            ("baton/models.py", ", defer_build=True)", ")"),
            ("baton/catalog.py", ", defer_build=True)", ")"),
        ],
    ),
    "network made at build": (
        "the agent's HTTP transport (an SSL context: the CA certificates read) made when the runner is built",
        [
            (
                "baton/runtime.py",
                "transport = http_transport or _NetworkOnFirstRequest()",
                "from baton.http import PinnedTransport\n\n    transport = http_transport or PinnedTransport()",
            )
        ],
    ),
    "runtime.py as committed": (
        "baton.runtime imports every function's modules at import (and its HTTP transport made at build)",
        [("baton/runtime.py", "*", "HEAD:baton/runtime.py")],
    ),
    "handlers as committed": (
        "the handlers of HEAD (eager Tracer through the committed observability, models at import, no GC pause)",
        [(path, "*", f"HEAD:{path.removeprefix('baton/')}") for path in HANDLERS]
        + [("baton/observability.py", "*", "HEAD:baton/observability.py")],
    ),
    "peer role name {1,64}": (
        "a peer trust's role name bounded inside its pattern: pydantic-core compiles the Unicode class 64 times over",
        [
            (
                "baton/catalog.py",
                'Field(pattern=r"^[\\w+=,.@-]+$", max_length=64)',
                'Field(pattern=r"^[\\w+=,.@-]{1,64}$")',
            )
        ],
    ),
    "credentials, tomllib eager": (
        "every agent function loads baton.credentials, every function that loads a catalog the TOML parser",
        [
            (
                "baton/runtime.py",
                "    from baton.secrets import SecretsBroker\n",
                "    from baton.credentials import SessionBroker, TokenBroker  # noqa: F401\n"
                "    from baton.secrets import SecretsBroker\n",
            ),
            ("baton/config.py", "import sys\n", "import sys\nimport tomllib  # noqa: F401\n"),
        ],
    ),
    "all as committed": (
        "every cold-start change: handlers, baton.observability and baton.runtime of HEAD, no defer_build",
        [(path, "*", f"HEAD:{path.removeprefix('baton/')}") for path in HANDLERS]
        + [
            ("baton/observability.py", "*", "HEAD:baton/observability.py"),
            ("baton/runtime.py", "*", "HEAD:baton/runtime.py"),
            ("baton/models.py", ", defer_build=True)", ")"),
            ("baton/catalog.py", ", defer_build=True)", ")"),
        ],
    ),
}
# Changes to files this bench does not own, measured the same way (on the asset's copies) to size them
PROPOSALS: dict[str, tuple[str, list[Edit]]] = {
    "+ secrets provider lazy": (
        "baton.secrets imports Powertools' parameters utility (and boto3.dynamodb with it) at its first secret",
        [
            ("baton/secrets.py", "from aws_lambda_powertools.utilities.parameters import SecretsProvider\n", ""),
            (
                "baton/secrets.py",
                "            self._provider = SecretsProvider(",
                "            from aws_lambda_powertools.utilities.parameters import SecretsProvider\n\n"
                "            self._provider = SecretsProvider(",
            ),
        ],
    ),
    "+ ASCII pattern classes": (
        "the catalog's patterns with ASCII classes ([0-9], [A-Za-z0-9_]) for \\d and \\w (stricter: no other digits)",
        [
            ("baton/catalog.py", r"[\w.]", "[A-Za-z0-9_.]"),
            ("baton/catalog.py", r"]\w*", "][A-Za-z0-9_]*"),
            ("baton/catalog.py", r"[\w+=,.@", "[A-Za-z0-9_+=,.@"),
            ("baton/catalog.py", r"[\w-]", "[A-Za-z0-9_-]"),
            ("baton/catalog.py", r"\d", "[0-9]"),
        ],
    ),
    "+ no pydantic plugins": (
        "PYDANTIC_DISABLE_PLUGINS in the function's environment: no scan of every distribution's entry points",
        [
            (path, "import os\n", 'import os\n\nos.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"\n')
            for path in HANDLERS
        ],
    ),
}
VARIANTS.update(PROPOSALS)


def _variant(base: Path, target: Path, edits: list[Edit], python: Path) -> bool:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target, copy_function=os.link)  # hard links: an edited file is unlinked first
    for path, text, replacement in edits:
        file = target / path
        if not file.exists():  # another function's handler
            continue
        if text == "*":
            new = _git(replacement.removeprefix("HEAD:"))
        else:
            old = file.read_text()
            if text not in old:
                return False
            new = old.replace(text, replacement)
        file.unlink()  # a copy, never the working tree's file
        file.write_text(new)
    subprocess.run([str(python), "-m", "compileall", "-q", str(target / "baton")], check=True, capture_output=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coldstart_ablation")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "coldstart_ablation.json")
    args = parser.parse_args(argv)
    python = prepare()
    assets = lay_out_assets(python)["bytecode"]
    from baton.observability import logs_to

    with (ROOT / ".baton" / "logs" / "bench.jsonl").open("a") as logs, logs_to(logs):
        recorded = record()
    dirs: dict[str, dict[str, Path | None]] = {}
    for name, (_, edits) in VARIANTS.items():
        dirs[name] = {}
        for kind in KINDS:
            target = PLACE / "ablation" / name.replace(" ", "-").replace(",", "") / kind
            dirs[name][kind] = target if _variant(assets[kind], target, edits, python) else None
    result = _measure(python, assets, dirs, recorded, args.rounds)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"figures {args.json}")
    return 0


def _measure(
    python: Path,
    assets: dict[str, Path],
    dirs: dict[str, dict[str, Path | None]],
    recorded: dict[str, dict[str, Any]],
    rounds: int,
) -> dict[str, Any]:
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        name: {kind: {"import": [], "total": [], "cpu": []} for kind in KINDS} for name in VARIANTS
    }
    yardsticks: dict[str, list[float]] = {kind: [] for kind in KINDS}
    yardstick_cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
    boto3: list[float] = []
    for round_ in range(rounds + 1):
        for kind in KINDS:
            calls = recorded[kind]["calls"]
            env = lambda_env(kind, assets[kind], recorded[kind]["env"])
            yardstick = {"mode": "yardstick", "calls": calls[:1], "services": sorted({c["client"] for c in calls})}
            measured_yardstick = probe(python, {**yardstick, "process_env": env})
            measured_boto3 = probe(python, {"mode": "import", "module": "boto3", "calls": [], "process_env": env})
            if round_:
                yardsticks[kind].append(measured_yardstick["total_ms"])
                yardstick_cpu[kind].append(measured_yardstick["total_cpu_ms"])
                boto3.append(measured_boto3["import_ms"])
            for name in VARIANTS:
                asset = dirs[name][kind]
                if asset is None:
                    continue
                variant_env = lambda_env(kind, asset, recorded[kind]["env"])
                spec = {
                    "mode": "handler",
                    "module": HANDLER_MODULE.format(kind=kind),
                    "event": recorded[kind]["event"],
                    "calls": calls,
                    "invocations": 1,
                    "process_env": variant_env,
                }
                imported = probe(python, {**spec, "mode": "import"})["import_ms"]
                run = probe(python, spec)
                if round_:
                    samples[name][kind]["import"].append(imported)
                    samples[name][kind]["total"].append(run["total_ms"])
                    samples[name][kind]["cpu"].append(run["total_cpu_ms"])
    boto3_ms = median(boto3)
    result: dict[str, Any] = {"rounds": rounds, "boto3_ms": round(boto3_ms, 1), "variants": {}}
    ratio: Callable[[list[float], float], float] = lambda values, base: round(median(values) / base, 2)  # noqa: E731
    print(
        f"import boto3 {boto3_ms:.0f} ms; each cell: import ms (x boto3) | init + first invocation ms (x yardstick)"
        " | its CPU time as a ratio to the yardstick's"
    )
    print(f"{'variant':26}" + "".join(f"{kind:>38}" for kind in KINDS))
    for name, (undone, _) in VARIANTS.items():
        row: dict[str, Any] = {"undoes": undone}
        cells = []
        for kind in KINDS:
            figures = samples[name][kind]
            if not figures["total"]:
                row[kind] = {"na": "the edit no longer applies"}
                cells.append(f"{'n/a':>38}")
                continue
            yard = median(yardsticks[kind])
            row[kind] = {
                "import_ms": round(median(figures["import"]), 1),
                "import_ratio_to_boto3": ratio(figures["import"], boto3_ms),
                "total_ms": round(median(figures["total"]), 1),
                "yardstick_ms": round(yard, 1),
                "ratio_to_yardstick": ratio(figures["total"], yard),
                "cpu_ms": round(median(figures["cpu"]), 1),
                "cpu_ratio_to_yardstick": ratio(figures["cpu"], median(yardstick_cpu[kind])),
            }
            cell = (
                f"{row[kind]['import_ms']:.0f} ({row[kind]['import_ratio_to_boto3']:.2f}x) |"
                f" {row[kind]['total_ms']:.0f} ({row[kind]['ratio_to_yardstick']:.2f}x) |"
                f" {row[kind]['cpu_ratio_to_yardstick']:.2f}x"
            )
            cells.append(f"{cell:>38}")
        result["variants"][name] = row
        print(f"{name:26}" + "".join(cells))
    return result


if __name__ == "__main__":
    sys.exit(main())
