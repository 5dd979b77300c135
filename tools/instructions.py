"""CPU instructions an order costs in the services' own code, counted rather than timed.

    python -m tools.instructions                 # 1,000 and 3,000 orders, both at once
    python -m tools.instructions --small 500 --large 2500

Timings on a shared machine move by 10-30% within minutes (the bench's `cpu_reference_s`
went 0.17 -> 0.24 s in one session), which hides any change worth a few percent. Valgrind's
cachegrind counts the instructions executed, which repeat to about 0.3% from run to run. This
runs `tools.profile_pipeline` (orders -> inventory -> logistics -> lifecycle, one process, no
broker) under it for two order counts and prints the difference per order: start-up, imports
and catalog loading cancel out. Valgrind slows Python about 20 times: a pair takes 2-3 minutes.
The broker, the Kafka clients and FastStream are not in it; `make bench` measures those.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def instructions_of(command: list[str], out: Path, what: str, cwd: Path = REPO_ROOT,
                    env: dict[str, str] | None = None) -> int:
    """Instructions `command` executes, counted by cachegrind (its file in `out`)."""
    run = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", *command],
                         cwd=cwd, capture_output=True, text=True, check=False, env=env)
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"{what} under valgrind failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def count(orders: int, batch: int, out_dir: Path) -> int:
    """Instructions of one `tools.profile_pipeline` run with `orders` orders."""
    return instructions_of([sys.executable, "-m", "tools.profile_pipeline", "--orders", str(orders),
                            "--batch", str(batch)], out_dir / f"cachegrind.{orders}", "profile_pipeline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.instructions")
    parser.add_argument("--small", type=int, default=1000, help="orders in the first run")
    parser.add_argument("--large", type=int, default=3000, help="orders in the second run")
    parser.add_argument("--batch", type=int, default=500, help="records per consumer batch")
    args = parser.parse_args(argv)
    if args.large <= args.small:
        parser.error("--large must be more than --small")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp, ThreadPoolExecutor(2) as pool:
        small, large = pool.map(lambda n: count(n, args.batch, Path(tmp)), (args.small, args.large))
    per_order = (large - small) / (args.large - args.small)
    print(f"{small:,} instructions with {args.small} orders, {large:,} with {args.large}: "
          f"{per_order / 1e6:.3f} M instructions an order (orders, inventory, logistics, lifecycle)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
