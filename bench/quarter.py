"""The simulated quarter's wall time and CPU-seconds per process, for one checkout or several in turn.

    python -m bench.quarter [--checkout DIR ...] [--rounds 1] [--size 3000] [-- SIM ARGS]

Each round runs `make simulate` in each checkout in turn (old, new, old, new… so that both see the same machine),
in a scratch `--var` directory. While the quarter runs, the CPU time (user + system, from /proc) of every process
of the system is read: the simulator itself (its clients and the in-process providers), each service, the gateway
and the broker. The figures are the difference between the first working day's start (the simulator's
"procedures in force" line) and the moment the reports equal the truth (its "quarter:" line), so the system's
start-up is not counted. A checkout is any directory with the project's Makefile (a `git worktree` of an older
commit is the usual anchor). Prints a table and writes the rounds to `--out` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
ROLES = ("catalogue", "intake", "routing", "payment", "stats", "gateway")


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def children(root: int) -> list[int]:
    """Every live descendant of `root`."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def role_of(pid: int) -> str | None:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "uvicorn" in cmd:
        return next((r for r in ROLES if f"{r}.main:app" in cmd), None)
    if "-m sim" in cmd:
        return "simulator"
    return None


def snapshot(sim_pid: int, var: Path) -> dict[str, float]:
    """CPU seconds so far of each of the system's processes, by role."""
    out: dict[str, float] = {}
    pids = [(pid, role_of(pid)) for pid in (sim_pid, *children(sim_pid))]
    broker = var / "kafka" / "broker.pid"
    if broker.exists():
        pids.append((int(broker.read_text().strip()), "broker"))
    for pid, role in pids:
        if role is not None and (s := cpu_seconds(pid)) is not None:
            out[role] = out.get(role, 0.0) + s
    return out


def commit_of(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip()


def run_once(checkout: Path, size: int, sim_args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="motcua-quarter-") as scratch:
        var = Path(scratch) / "var"
        args = " ".join(["--var", str(var), *sim_args])
        # -o: a worktree's .venv is the shared one (a symlink); never rebuild it from here
        cmd = ["make", "--no-print-directory", "-C", str(checkout), "-o", ".venv/bin/.installed", "simulate",
               f"SIZE={size}", f"SIM_ARGS={args}"]  # fmt: skip
        load_before = os.getloadavg()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        marks: dict[str, tuple[float, dict[str, float]]] = {}
        sim_pid: list[int] = []
        lines: list[str] = []

        def find_sim() -> None:
            while proc.poll() is None and not sim_pid:
                for pid in children(proc.pid):
                    if role_of(pid) == "simulator":
                        sim_pid.append(pid)
                        return
                time.sleep(0.2)

        finder = threading.Thread(target=find_sim, daemon=True)
        finder.start()
        for line in proc.stdout:
            lines.append(line)
            if sim_pid and "procedures in force" in line:
                marks["start"] = (time.monotonic(), snapshot(sim_pid[0], var))
            elif sim_pid and line.startswith("quarter:"):
                marks["end"] = (time.monotonic(), snapshot(sim_pid[0], var))
        code = proc.wait()
        result_file = var / "result.json"
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
    if "start" not in marks or "end" not in marks:
        sys.stderr.write("".join(lines[-40:]))
        raise SystemExit(f"{checkout}: the quarter did not run to its end (exit {code})")
    (t0, a), (t1, b) = marks["start"], marks["end"]
    cpu = {role: round(b.get(role, 0.0) - a.get(role, 0.0), 1) for role in sorted(b)}
    return {
        "checkout": str(checkout),
        "commit": commit_of(checkout),
        "exit": code,
        "wall_seconds": round(t1 - t0, 1),
        "cpu_seconds": cpu,
        "cpu_total": round(sum(cpu.values()), 1),
        "requests": result.get("requests"),
        "differences": result.get("differences"),
        "latency_p99": (result.get("latency_seconds") or {}).get("all", {}),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.quarter", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkout", action="append", type=Path, help="a project checkout (repeatable; default: here)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--size", type=int, default=3000)
    p.add_argument("--out", type=Path, default=Path("var/bench-quarter.json"))
    p.add_argument("sim_args", nargs="*", help="passed to python -m sim (after --)")
    args = p.parse_args(argv)
    checkouts = [c.resolve() for c in (args.checkout or [Path.cwd()])]
    runs: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for checkout in checkouts:
            run = run_once(checkout, args.size, args.sim_args)
            run["round"] = round_ + 1
            runs.append(run)
            print(json.dumps(run), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(runs, indent=2))
    roles = sorted({r for run in runs for r in run["cpu_seconds"]})
    print("\n| round | commit | wall s | CPU s | " + " | ".join(roles) + " | figures differ | load before → after |")
    print("|---" * (6 + len(roles)) + "|")
    for run in runs:
        cells = " | ".join(str(run["cpu_seconds"].get(r, "")) for r in roles)
        print(f"| {run['round']} | {run['commit']} | {run['wall_seconds']} | {run['cpu_total']} | {cells} | "
              f"{run['differences']} | {run['load_before'][0]} → {run['load_after'][0]} |")  # fmt: skip
    return 0 if all(run["differences"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
