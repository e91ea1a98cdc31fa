"""Load on the web server: many compositions asked for at once, on 127.0.0.1 only.

The script starts ``cadenza serve`` itself on a free localhost port (with a debug model it
trains first, unless ``--checkpoints`` names a folder of runs), then sends ``--requests``
(default 20) ``POST /api/compositions`` at the same moment from as many threads; with
``--uploads`` (default: every other request) a thread first uploads a MIDI melody
(``POST /api/uploads``, multipart) and then asks for it to be harmonised or continued. Each
composition is either accepted (202) and then followed until it is done or failed, or
refused with 429 because the bounded queue is full. Meanwhile probes ask ``GET /api/models``
and the page itself (``GET /``) every 0.2 s to check that the server stays responsive while
its workers compose.

It prints the counts and the latencies (p50 / p95 / max) of the submissions, of the accepted
compositions (submission to finished) and of the probe, and exits with status 1 when a
composition is lost (accepted but never finished, or missing from the history), when any
answer is neither 202 nor 429 (nor 201 for an upload), when a probe is slower than
``--probe-limit`` seconds or when the page's p95 latency passes ``--page-p95`` (0.2 s).

With ``--longest`` it asks instead, one after the other, for the longest pieces the server
allows: 256 bars at the tempo that lasts ``--max-minutes`` (composed and engraved, no WAV),
then 256 bars at the tempo that lasts a little under ``--max-wav-minutes`` (with its WAV),
and checks that 256 bars at 10 bpm are refused; it prints the server's peak resident memory
(``VmHWM``) and exits with status 1 when it passes ``--max-rss-gb`` (1.5).

Usage: ``python benchmarks/web_load.py [--requests 20] [--uploads 10] [--bars 4]
[--workers 2] [--queue 8] [--checkpoints DIR] [--timeout 300]`` or ``python
benchmarks/web_load.py --longest --model biaxial-piano``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_model, usable_cores
from rich.console import Console
from rich.table import Table

HOST = "127.0.0.1"
TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"  # holds debug_run.py, the test model
MAX_REQUESTS = 200
PROBE_INTERVAL_SECONDS = 0.2
POLL_SECONDS = 0.4  # as often as the page asks
START_SECONDS = 120.0

console = Console(width=120)


@dataclass
class Outcome:
    """What happened to one composition request."""

    status: int = 0
    submit_seconds: float = 0.0
    job_id: str | None = None
    final: str | None = None  # done / failed / None when it never finished
    mode: str = "compose"
    upload_status: int | None = None  # the upload's answer, for a request that uploads
    total_seconds: float | None = None
    error: str | None = None


@dataclass
class Probe:
    latencies: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each probe began (monotonic)
    failures: int = 0


# -- HTTP on localhost -----------------------------------------------------------------------
def request(url: str, body: dict[str, Any] | None = None, timeout: float = 30.0
            ) -> tuple[int, Any]:
    """``(status, parsed JSON)`` of a GET (or a POST of ``body``)."""
    data = json.dumps(body).encode() if body is not None else None
    return send(urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                       headers={"Content-Type": "application/json"}), timeout)


def send(req: urllib.request.Request, timeout: float) -> tuple[int, Any]:
    """``(status, parsed JSON)`` of one request, error statuses included."""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.load(exc)
        except ValueError:
            return exc.code, None


def upload(url: str, data: bytes, name: str, timeout: float = 30.0) -> tuple[int, Any]:
    """``POST /api/uploads`` of one file as ``multipart/form-data``."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: audio/midi\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return send(urllib.request.Request(
        f"{url}/api/uploads", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}), timeout)


def melody_bytes(bars: int) -> bytes:
    """A one-voice melody of ``bars`` 4/4 bars in quarter notes, as MIDI bytes."""
    from cadenza.midi import midi_bytes
    from cadenza.score import Score, Tempo, TimeSignature, make_notes

    tune = [60, 64, 67, 72, 65, 62, 59, 55]
    count = 4 * bars
    score = Score(notes=make_notes([480 * i for i in range(count)], [480] * count,
                                   [tune[i % 8] for i in range(count)], 80),
                  ticks_per_quarter=480, tempos=(Tempo(0, 100.0),),
                  time_signatures=(TimeSignature(0, 4, 4),))
    return midi_bytes(score)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(checkpoints: Path, data_dir: Path, workers: int, queue: int, timeout: float,
                 log_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable, "-c", "from cadenza.cli import app; app()", "serve",
        "--checkpoints", str(checkpoints), "--data-dir", str(data_dir), "--host", HOST,
        "--port", str(port), "--workers", str(workers), "--queue", str(queue),
        "--timeout", str(timeout), *extra,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    end = time.monotonic() + START_SECONDS
    while time.monotonic() < end:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_path.read_text()}")
        try:
            status, body = request(f"{url}/api/models", timeout=5)
            if status == 200 and body["models"]:
                return process, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"the server did not answer within {START_SECONDS:.0f} s")


# -- the load --------------------------------------------------------------------------------
def compose_one(url: str, body: dict[str, Any], start: threading.Barrier, deadline: float,
                outcome: Outcome, melody: bytes | None = None) -> None:
    start.wait()
    began = time.monotonic()
    try:
        if melody is not None:
            outcome.upload_status, stored = upload(url, melody, "melody.mid")
            if outcome.upload_status != 201:
                outcome.error = (stored or {}).get("detail")
                return
            body = {**body, "mode": outcome.mode, "upload": stored["id"]}
        outcome.status, answer = request(f"{url}/api/compositions", body)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        outcome.error = str(exc)
        return
    outcome.submit_seconds = time.monotonic() - began
    if outcome.status != 202:
        outcome.error = (answer or {}).get("detail")
        return
    outcome.job_id = answer["id"]
    while time.monotonic() < deadline:
        _, job = request(f"{url}/api/compositions/{outcome.job_id}")
        if job["status"] in ("done", "failed", "cancelled"):
            outcome.final = job["status"]
            outcome.error = job["error"]
            outcome.total_seconds = time.monotonic() - began
            return
        time.sleep(POLL_SECONDS)


def probe_models(url: str, stop: threading.Event, probe: Probe, path: str = "/api/models"
                 ) -> None:
    while not stop.wait(PROBE_INTERVAL_SECONDS):
        began = time.monotonic()
        try:
            if path == "/":
                with urllib.request.urlopen(f"{url}/", timeout=10) as response:
                    response.read()
                    status = response.status
            else:
                status, _ = request(f"{url}{path}", timeout=10)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = 0
        if status == 200:
            probe.latencies.append(time.monotonic() - began)
            probe.times.append(began)
        else:
            probe.failures += 1


def percentiles(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return "-", "-", "-"
    array = np.array(values) * 1000.0
    p50, p95 = np.percentile(array, [50, 95])
    return f"{p50:.0f}", f"{p95:.0f}", f"{array.max():.0f}"


def peak_rss_gb(pid: int) -> float:
    """The peak resident memory of process ``pid`` (Linux ``VmHWM``), in GB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def longest(args: argparse.Namespace, url: str, model: str, pid: int) -> int:
    """The longest pieces the server allows, one at a time; the server's peak memory."""
    quarters = 256 * 4
    asks = [("--max-minutes", quarters / args.max_minutes),
            ("--max-wav-minutes", quarters / (0.95 * args.max_wav_minutes))]
    problems = []
    status, answer = request(f"{url}/api/compositions", {"model": model, "bars": 256, "bpm": 10})
    console.print(f"256 bars at 10 bpm: {status} {(answer or {}).get('detail')}")
    if status != 422:
        problems.append("256 bars at 10 bpm were not refused")
    for name, bpm in asks:
        outcome, began = Outcome(), time.monotonic()
        body = {"model": model, "bars": 256, "bpm": round(bpm, 2), "seed": 1}
        compose_one(url, body, threading.Barrier(1), began + args.timeout, outcome)
        _, job = request(f"{url}/api/compositions/{outcome.job_id}") if outcome.job_id else (0, {})
        console.print(f"256 bars at {bpm:.1f} bpm ({name}): {outcome.final or outcome.status} "
                      f"in {time.monotonic() - began:.0f} s; files {sorted(job.get('urls', {}))}; "
                      f"WAV: {job.get('wav_error') or 'rendered'}; server peak "
                      f"{peak_rss_gb(pid):.2f} GB")
        if outcome.final != "done":
            problems.append(f"{name}: {outcome.final or outcome.status} {outcome.error}")
    peak = peak_rss_gb(pid)
    console.print(f"[bold]server peak resident memory: {peak:.2f} GB[/] ({model}; {cpu_model()})")
    if peak > args.max_rss_gb:
        problems.append(f"the server's peak memory {peak:.2f} GB passed {args.max_rss_gb} GB")
    for problem in problems:
        console.print(f"[bold red]problem:[/] {problem}")
    return 1 if problems else 0


def run(args: argparse.Namespace, work: Path) -> int:
    checkpoints = args.checkpoints
    if checkpoints is None:
        os.environ.setdefault("CADENZA_CACHE_DIR", str(work / "cache"))
        console.print("training a debug model for the server…")
        # In a child process: this one stays small, so its own garbage collector and
        # threads do not add pauses to the latencies it measures.
        subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; "
             "sys.path.insert(0, sys.argv[2]); "
             "from debug_run import make_debug_run; make_debug_run(Path(sys.argv[1]))",
             str(work), str(TESTS_DIR)],
            check=True,
        )
        checkpoints = work / "runs"
    gc.collect()
    gc.freeze()  # what is loaded now is never garbage; keep full collections short
    process, url = start_server(checkpoints, work / "data", args.workers, args.queue,
                                args.timeout, work / "server.log",
                                "--max-minutes", str(args.max_minutes),
                                "--max-wav-minutes", str(args.max_wav_minutes))
    try:
        _, listing = request(f"{url}/api/models")
        model = args.model or listing["models"][0]["id"]
        if args.longest:
            return longest(args, url, model, process.pid)
        body = {"model": model, "composer": None, "bars": args.bars, "temperature": 1.0,
                "seed": None}
        uploads = args.requests // 2 if args.uploads is None else args.uploads
        melody = melody_bytes(args.bars)
        outcomes = [Outcome() for _ in range(args.requests)]
        for index, outcome in enumerate(outcomes[:uploads]):
            outcome.mode = ("harmonise", "continue")[index % 2]
        barrier = threading.Barrier(args.requests)
        deadline = time.monotonic() + args.timeout
        threads = [
            threading.Thread(target=compose_one,
                             args=(url, body, barrier, deadline, o,
                                   melody if i < uploads else None))
            for i, o in enumerate(outcomes)
        ]
        probe, page, stop = Probe(), Probe(), threading.Event()
        probers = [threading.Thread(target=probe_models, args=(url, stop, probe)),
                   threading.Thread(target=probe_models, args=(url, stop, page, "/"))]
        began = time.monotonic()
        for prober in probers:
            prober.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(1.0, deadline - time.monotonic() + 5))
        stop.set()
        for prober in probers:
            prober.join()
        wall = time.monotonic() - began
        _, history = request(f"{url}/api/compositions?limit=500")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    return report(args, model, outcomes, probe, page, history, wall)


def report(args: argparse.Namespace, model: str, outcomes: list[Outcome], probe: Probe,
           page: Probe, history: dict[str, Any], wall: float) -> int:
    accepted = [o for o in outcomes if o.status == 202]
    refused = [o for o in outcomes if o.status == 429]
    other = [o for o in outcomes if o.status not in (202, 429)
             or o.upload_status not in (None, 201)]
    uploaded = [o for o in outcomes if o.upload_status == 201]
    done = [o for o in accepted if o.final == "done"]
    failed = [o for o in accepted if o.final == "failed"]
    listed = {job["id"] for job in history["compositions"]}
    lost = [o for o in accepted if o.final is None or o.job_id not in listed]

    console.print(f"[bold]web load[/]: {args.requests} simultaneous compositions of "
                  f"{args.bars} bars with {model}; server --workers {args.workers} "
                  f"--queue {args.queue}; {len(uploaded)} of them uploaded a melody to "
                  f"harmonise or continue; {cpu_model()}, {usable_cores()} cores; "
                  f"{wall:.1f} s in all")
    counts = Table(title="outcomes")
    for name in ("requests", "accepted (202)", "refused (429)", "other answers", "done",
                 "failed", "lost"):
        counts.add_column(name, justify="right")
    counts.add_row(*(str(n) for n in (len(outcomes), len(accepted), len(refused), len(other),
                                      len(done), len(failed), len(lost))))
    console.print(counts)
    latency = Table(title="latency (ms)")
    for name, justify in (("what", "left"), ("n", "right"), ("p50", "right"), ("p95", "right"),
                          ("max", "right")):
        latency.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = (
        ("POST /api/compositions", [o.submit_seconds for o in outcomes if o.status]),
        ("accepted: submitted to finished", [o.total_seconds for o in done + failed
                                             if o.total_seconds is not None]),
        ("GET /api/models during the load", probe.latencies),
        ("GET / (the page) during the load", page.latencies),
    )
    for name, values in rows:
        latency.add_row(name, str(len(values)), *percentiles(list(values)))
    console.print(latency)
    for o in failed[:3] + other[:3]:
        console.print(f"  {o.status} {o.final or ''}: {o.error}")

    problems = []
    if lost:
        problems.append(f"{len(lost)} accepted compositions were lost")
    if other:
        problems.append(f"{len(other)} answers were neither 202 nor 429")
    if probe.failures or page.failures:
        problems.append(f"{probe.failures + page.failures} probes failed")
    if page.latencies and float(np.percentile(page.latencies, 95)) > args.page_p95:
        problems.append(f"the page's p95 latency was "
                        f"{float(np.percentile(page.latencies, 95)) * 1000:.0f} ms "
                        f"(limit {args.page_p95 * 1000:.0f} ms)")
    if probe.latencies and max(probe.latencies) > args.probe_limit:
        problems.append(f"GET /api/models took up to {max(probe.latencies):.2f} s "
                        f"(limit {args.probe_limit:g} s)")
    for problem in problems:
        console.print(f"[bold red]problem:[/] {problem}")
    if not problems:
        console.print("[green]ok[/]: every request was answered, nothing lost, "
                      "the server stayed responsive")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="simultaneous requests")
    parser.add_argument("--uploads", type=int, default=None,
                        help="requests that upload a melody first (default: half)")
    parser.add_argument("--bars", type=int, default=4, help="bars per composition (1..256)")
    parser.add_argument("--workers", type=int, default=2, help="server --workers")
    parser.add_argument("--queue", type=int, default=8, help="server --queue")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="folder of runs to serve (default: train a debug model)")
    parser.add_argument("--model", default=None, help="model id (default: the first listed)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds the whole load may take (and each job's limit)")
    parser.add_argument("--probe-limit", type=float, default=1.0,
                        help="slowest acceptable GET /api/models during the load (s)")
    parser.add_argument("--page-p95", type=float, default=0.2,
                        help="largest acceptable p95 latency of GET / during the load (s)")
    parser.add_argument("--longest", action="store_true",
                        help="the longest pieces allowed, one at a time, and peak memory")
    parser.add_argument("--max-minutes", type=float, default=20.0, help="server --max-minutes")
    parser.add_argument("--max-wav-minutes", type=float, default=4.0,
                        help="server --max-wav-minutes")
    parser.add_argument("--max-rss-gb", type=float, default=1.5,
                        help="largest acceptable peak memory of the server (--longest)")
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be in 1..{MAX_REQUESTS}")
    if not 1 <= args.bars <= 256:
        parser.error("--bars must be in 1..256")
    if args.uploads is not None and not 0 <= args.uploads <= args.requests:
        parser.error("--uploads must be in 0..--requests")
    with tempfile.TemporaryDirectory(prefix="cadenza-web-load-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
