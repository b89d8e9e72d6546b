"""``./run mutation [--workers N] [module ...]``: a mutation sweep of the platform's
revenue-critical modules with cosmic-ray, each module against the features that guard it
(``guards.toml``), in scratch clones, workers in parallel.

For each module: a baseline run (it must pass; the timeout is set from it), a cosmic-ray
session kept under ``.mutation/sessions/`` (an interrupted sweep resumes where it stopped, as
long as HEAD has not moved), HTTP workers each in its own clone, progress every 15 seconds,
and a result in ``tools/mutation/results/<module>.json`` (commit it) with the score over the
non-equivalent mutants and every survivor. Survivors are killed with scenarios or listed in
``equivalent.toml`` with the reason they behave as the original.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from harness.waiting import eventually
from tools.mutation import clones
from tools.mutation.clones import Clone
from tools.mutation.report import ModuleResult, judge

GUARDS = Path(__file__).with_name("guards.toml")
RESULTS = Path(__file__).with_name("results")
_FIRST_PORT = 9870
_PROGRESS_EVERY = 15.0


def guards() -> dict[str, list[str]]:
    modules = tomllib.loads(GUARDS.read_text())["modules"]
    return {name: list(entry["features"]) for name, entry in modules.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to sweep (default: every guarded one)")
    parser.add_argument("--workers", type=int, default=2, help="clones working in parallel")
    parser.add_argument(
        "--report", action="store_true",
        help="only judge the sessions already run again (after editing equivalent.toml)",
    )
    args = parser.parse_args(argv)
    # SIGTERM takes Ctrl-C's path, so that every worker this sweep started is stopped with it.
    signal.signal(signal.SIGTERM, _as_interrupt)
    known = guards()
    chosen = args.modules or list(known)
    unknown = [m for m in chosen if m not in known]
    if unknown:
        parser.error(f"no guarded module {unknown}; known: {', '.join(known)}")
    if args.report:
        results = [rejudge(module) for module in chosen]
        print("\n".join(r.text() for r in results))
        return 0
    commit = clones.head()
    print(f"mutation sweep of {len(chosen)} module(s) at {commit[:12]}, {args.workers} worker(s)")
    workers = clones.prepare(args.workers, commit)
    for clone in workers:
        print(clones.prove_isolation(clone), flush=True)
    results = [sweep_module(module, known[module], workers, commit) for module in chosen]
    print("\n".join(r.text() for r in results))
    return 0


def sweep_module(
    module: str, features: list[str], workers: list[Clone], commit: str
) -> ModuleResult:
    baseline = _baseline(workers[0], features)
    timeout = max(3 * baseline, baseline + 20)
    session_dir = clones.WORKSPACE / "sessions" / module.replace("/", ".")
    session_dir.mkdir(parents=True, exist_ok=True)
    config = session_dir / "config.toml"
    session = session_dir / "session.sqlite"
    command = " ".join([sys.executable, "-m", "tools.mutation.guard", *features])
    ports = [_FIRST_PORT + i for i in range(len(workers))]
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n\n'
        '[cosmic-ray.distributor]\nname = "http"\n\n'
        "[cosmic-ray.distributor.http]\n"
        f"worker-urls = {[f'http://127.0.0.1:{p}' for p in ports]!r}\n"
    )
    _init_or_resume(config, session, commit, session_dir / "commit", workers[0])
    print(f"{module}: baseline {baseline:.1f}s, timeout {timeout:.0f}s, "
          f"{_count(session, 'work_items')} mutants", flush=True)
    with _workers(workers, ports), _progress(module, session):
        subprocess.run(
            [sys.executable, "-m", "cosmic_ray.cli", "exec", str(config), str(session)],
            cwd=workers[0].path, check=True, env=workers[0].environment(),
        )
    meta = ModuleResult(module, commit, features, round(baseline, 1), round(timeout), "proved")
    (session_dir / "meta.json").write_text(json.dumps(asdict(meta)))
    result = judge(meta, session)
    print(f"{module}: written {result.write(RESULTS).relative_to(clones.REPO)}", flush=True)
    return result


def rejudge(module: str) -> ModuleResult:
    """The module's last session judged again (the equivalents list may have changed)."""
    session_dir = clones.WORKSPACE / "sessions" / module.replace("/", ".")
    if not (session_dir / "meta.json").exists():
        raise SystemExit(f"{module} has not been swept here yet: ./run mutation {module}")
    meta = json.loads((session_dir / "meta.json").read_text())
    result = judge(
        ModuleResult(**{k: meta[k] for k in (
            "module", "commit", "features", "baseline_seconds", "timeout_seconds", "canary"
        )}),
        session_dir / "session.sqlite",
    )
    result.write(RESULTS)
    return result


def _baseline(clone: Clone, features: list[str]) -> float:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "tools.mutation.guard", *features], cwd=clone.path,
        env=clone.environment(), capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"the unmutated features fail; fix that first:\n{completed.stdout[-2000:]}"
        )
    return time.monotonic() - started


def _init_or_resume(
    config: Path, session: Path, commit: str, stamp: Path, clone: Clone
) -> None:
    if session.exists() and stamp.exists() and stamp.read_text() == commit:
        return  # same code: carry on with the mutants still pending
    # The mutants are listed from the clone's file, the committed one the workers mutate: the
    # working tree may hold uncommitted edits, whose mutants would land elsewhere in the clone.
    subprocess.run(
        [sys.executable, "-m", "cosmic_ray.cli", "init", "--force", str(config), str(session)],
        cwd=clone.path, check=True, capture_output=True,
    )
    stamp.write_text(commit)


@contextlib.contextmanager
def _workers(workers: list[Clone], ports: list[int]) -> Iterator[None]:
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "cosmic_ray.cli", "http-worker", "--port", str(port)],
            cwd=clone.path, env=clone.environment(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a group of its own: its mutant's run is stopped with it
        )
        for clone, port in zip(workers, ports, strict=True)
    ]
    try:
        for port in ports:
            _await_port(port)
        yield
    finally:
        for process in started:
            _signal_group(process, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)  # its behave run stops its services first
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        for clone in workers:
            clone.reset()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _as_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _await_port(port: int, timeout: float = 30.0) -> None:
    def answers() -> None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError as exc:
            raise AssertionError(f"port {port}: {exc}") from None

    eventually(answers, timeout=timeout, interval=0.05, what=f"the mutation worker on {port}")


@contextlib.contextmanager
def _progress(module: str, session: Path) -> Iterator[None]:
    stop = threading.Event()
    total = _count(session, "work_items")

    def report() -> None:
        while not stop.wait(_PROGRESS_EVERY):
            print(f"{module}: {_count(session, 'work_results')} of {total} mutants run", flush=True)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _count(session: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(session)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("mutation sweep interrupted; its workers are stopped. The same command resumes it"
              " while HEAD is unchanged.", file=sys.stderr)
        sys.exit(130)
