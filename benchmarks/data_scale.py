"""Training at scale: streaming from a 30,000-photo JPEG folder against the bare step.

    .venv/bin/python benchmarks/data_scale.py [--folder /tmp/edgemb-photos-30k] [--torchrun-subset 6000]

One run, on this machine:
1. the bare training step (library's train_step: forward, backward, SGD on a batch already
   in memory) of mobilenet_v2 0.35-224 at batch 64 and 32: images/s and the process's peak RSS;
2. a short epoch per --workers count (0, 1, 2), on photos and on Fashion-MNIST;
3. `edgemb train` on the folder (made by photo_folder.py if missing) for one epoch, end to
   end: images/s from the command's start to its end (decoding and validation included)
   and the peak memory of the training process and of its whole process tree (PSS, so
   pages the workers share with it count once), sampled every 0.2 s;
4. time to the first step of a second run on the same folder (no cache needed: the first
   batch is decoded as soon as the workers start);
5. under torchrun --nproc_per_node 2: each rank's peak RSS (on a seeded subset of the
   training images, same folder, to keep the run short; memory does not depend on it);
6. the cost of one training sample read from JPEG and from the --cache (built for a
   2,000-image subset).
Results: benchmarks/results/data_scale.{md,json}, with the goals and whether they were met.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_info  # noqa: E402
from edge_mobilenet.io import write_json_atomic, write_text_atomic  # noqa: E402
from edge_mobilenet.train.config import TRAINING_WORKERS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
EDGEMB = [sys.executable, "-m", "edge_mobilenet.cli"]
MODEL = ["--arch", "mobilenet_v2", "--alpha", "0.35", "--resolution", "224"]
GIB = 1 << 30


def bare_step(batch_size: int, steps: int) -> dict:
    """Runs in a process of its own (see main): the bare step's rate and peak RSS."""
    import torch

    from edge_mobilenet.train.config import TrainConfig
    from edge_mobilenet.train.distributed import Processes
    from edge_mobilenet.train.loop import build_training, train_step

    config = TrainConfig(data="", alpha=0.35, resolution=224, batch_size=batch_size)
    model, optimizer, scheduler = build_training(config, [str(i) for i in range(10)], 10_000,
                                                 Processes(0, 1, torch.device("cpu")))
    model.train()
    x = torch.randn(batch_size, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch_size) % 10
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    for _ in range(2):
        train_step(model, x, y, criterion, optimizer, scheduler)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, x, y, criterion, optimizer, scheduler)
    seconds = time.perf_counter() - start
    return {"batch_size": batch_size, "steps": steps, "images_per_second": steps * batch_size / seconds,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += map(int, children)
        frontier += map(int, children)
    return found


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Watch:
    """A command run with its memory sampled: peak RSS of chosen processes and peak PSS of
    the whole tree; the time each stderr line arrived."""

    def __init__(self, argv: list[str], env: dict | None = None):
        self.start = time.monotonic()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env or os.environ)
        self.lines: list[tuple[float, str]] = []
        self.stdout = ""
        self.peak_tree_pss = 0
        self.peak_rss: dict[int, int] = {}  # pid -> VmHWM, for every process seen
        self.names: dict[int, str] = {}
        threading.Thread(target=self.read_stderr, daemon=True).start()
        threading.Thread(target=self.sample, daemon=True).start()

    def read_stderr(self) -> None:
        for line in self.process.stderr:
            self.lines.append((time.monotonic() - self.start, line.rstrip()))

    def sample(self) -> None:
        while self.process.poll() is None:
            pids = tree(self.process.pid)
            self.peak_tree_pss = max(self.peak_tree_pss, sum(pss_kib(p) for p in pids) * 1024)
            for p in pids:
                hwm = status_kib(p, "VmHWM") * 1024
                if hwm:
                    self.peak_rss[p] = max(self.peak_rss.get(p, 0), hwm)
                    if p not in self.names:
                        try:
                            self.names[p] = Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")[:200]
                        except OSError:
                            pass
            time.sleep(0.2)

    def line_seconds(self, prefix: str, containing: str) -> float | None:
        for seconds, line in self.lines:
            if line.startswith(prefix) and containing in line:
                return seconds
        return None

    def epoch_start_seconds(self) -> float | None:
        """When the first epoch started: data listed, workers running, the model built."""
        return self.line_seconds("Epoch 1/", "started")

    def first_step_seconds(self) -> float | None:
        """When the first progress line came, right after the first step."""
        return self.line_seconds("Epoch 1/", "img/s")

    def wait(self, timeout: float = 7200) -> float:
        self.stdout = self.process.communicate(timeout=timeout)[0]
        return time.monotonic() - self.start

    def stop_after_first_step(self, timeout: float = 900) -> float | None:
        deadline = time.monotonic() + timeout
        while self.first_step_seconds() is None and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        self.process.terminate()
        self.process.wait()
        return self.epoch_start_seconds(), self.first_step_seconds()


def run_bare(batch_size: int, steps: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--bare-step", str(batch_size), "--steps", str(steps)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def read_costs(folder: Path, cache_env: dict) -> dict:
    """Milliseconds to read one training sample (decode + central square) from JPEG and from the cache."""
    code = f"""
import json, os, time
from edge_mobilenet.data import describe_dataset, no_progress, split_samples
from edge_mobilenet.data.cache import cache_split
from edge_mobilenet.data.preprocess import Preprocessing
dataset = describe_dataset({str(folder)!r})
samples = split_samples(dataset, "train", Preprocessing.for_resolution(224), training=True, limit=2000)
start = time.perf_counter()
cached = cache_split(samples, dataset["path"], "train", 2, no_progress)
out = {{"build_seconds_2000": time.perf_counter() - start, "cache_bytes_2000": (cached.folder / "pixels.u8").stat().st_size}}
for name, s in (("jpeg", samples), ("cache", cached.samples)):
    start = time.perf_counter()
    for i in range(0, 2000, 4):
        s.read(i)
    out[name] = (time.perf_counter() - start) / 500 * 1000
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=cache_env)
    return json.loads(result.stdout.splitlines()[-1])


def worker_sweep(folder: Path, work: Path, counts=(0, 1, 2)) -> dict:
    """Training images/s during one short epoch per --workers count: on a 2,500-photo subset
    of the folder (224 px), and on 6,000 Fashion-MNIST images at 32 px (a cheap step)."""
    cases = {"photos 0.35-224": ["--data", str(folder), *MODEL, "--train-subset", "2500"],
             "fashion-mnist 0.35-32": ["--data", "fashion-mnist", "--arch", "mobilenet_v2", "--alpha", "0.35",
                                       "--resolution", "32", "--train-subset", "6000"]}
    found = {}
    for case, argv in cases.items():
        for workers in counts:
            out = work / f"sweep-{len(found)}"
            subprocess.run([*EDGEMB, "train", *argv, "--epochs", "1", "--workers", str(workers), "--out", str(out)],
                           capture_output=True, check=True)
            history = json.loads((out / "history.json").read_text())
            found.setdefault(case, {})[str(workers)] = history[0]["images_per_second"]
            shutil.rmtree(out)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "edgemb-photos-30k")
    parser.add_argument("--images", type=int, default=30_000)
    parser.add_argument("--torchrun-subset", type=int, default=3000)
    parser.add_argument("--bare-steps", type=int, default=15)
    parser.add_argument("--bare-step", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_step:
        print(json.dumps(bare_step(args.bare_step, args.steps)))
        return
    if not args.folder.is_dir():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "photo_folder.py"), str(args.folder),
                        "--images", str(args.images)], check=True)
    work = Path(tempfile.mkdtemp(prefix="edgemb-data-scale-"))
    cache_env = {**os.environ, "EDGEMB_CACHE": str(work / "cache")}
    record = {"machine": machine_info(), "folder": str(args.folder), "images": args.images,
              "model": "mobilenet_v2 0.35-224, batch 64, 1 epoch", "default_workers": TRAINING_WORKERS}
    try:
        print("bare step ...", flush=True)
        record["bare_step"] = {"64": run_bare(64, args.bare_steps), "32": run_bare(32, args.bare_steps)}
        print(json.dumps(record["bare_step"]), flush=True)

        print("training images/s by --workers ...", flush=True)
        record["worker_sweep"] = worker_sweep(args.folder, work)
        print(json.dumps(record["worker_sweep"]), flush=True)

        print("edgemb train, one epoch end to end ...", flush=True)
        run = Watch([*EDGEMB, "train", "--data", str(args.folder), *MODEL, "--epochs", "1",
                     "--out", str(work / "run")])
        wall = run.wait()
        history = json.loads((work / "run" / "history.json").read_text())
        main_rss = run.peak_rss.get(run.process.pid, 0)
        record["end_to_end"] = {
            "wall_seconds": wall, "train_images": history[0]["train_images"], "val_images": history[0]["val_images"],
            "images_per_second": history[0]["train_images"] / wall,
            "step_images_per_second": history[0]["images_per_second"],
            "epoch_start_seconds": run.epoch_start_seconds(), "first_step_seconds": run.first_step_seconds(),
            "peak_rss_bytes": main_rss,
            "peak_tree_pss_bytes": run.peak_tree_pss, "processes_seen": len(run.peak_rss),
            "val_top1": history[0]["val_top1"], "last_lines": [line for _, line in run.lines[-3:]]}
        print(json.dumps(record["end_to_end"]), flush=True)

        print("a second run: time to its first step ...", flush=True)
        second_start, second_step = Watch([*EDGEMB, "train", "--data", str(args.folder), *MODEL, "--epochs", "1",
                                           "--out", str(work / "second")]).stop_after_first_step()
        record["cache"] = {"epoch_start_seconds_second_run": second_start, "first_step_seconds_second_run": second_step,
                           "read_ms_per_sample": read_costs(args.folder, cache_env)}
        print(json.dumps(record["cache"]), flush=True)

        print(f"torchrun, 2 ranks, {args.torchrun_subset} training images ...", flush=True)
        ranks = Watch([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                       "-m", "edge_mobilenet.cli", "train", "--data", str(args.folder), *MODEL, "--epochs", "1",
                       "--train-subset", str(args.torchrun_subset), "--out", str(work / "ranks")],
                      {**os.environ, "OMP_NUM_THREADS": "1"})
        ranks_wall = ranks.wait()
        rank_rss = sorted(rss for pid, rss in ranks.peak_rss.items()
                          if "edge_mobilenet.cli train" in ranks.names.get(pid, "") and "torch.distributed" not in
                          ranks.names.get(pid, "") and rss > 300 * (1 << 20))
        record["torchrun"] = {"wall_seconds": ranks_wall, "returncode": ranks.process.returncode,
                              "train_images": args.torchrun_subset, "peak_rss_bytes_per_process": rank_rss,
                              "peak_tree_pss_bytes": ranks.peak_tree_pss}
        print(json.dumps(record["torchrun"]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record["goals"] = goals(record)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / "data_scale.json", record)
    write_text_atomic(RESULTS / "data_scale.md", markdown(record))
    print(markdown(record))


def goals(r: dict) -> list[dict]:
    bare64, bare32 = r["bare_step"]["64"], r["bare_step"]["32"]
    e2e, cache, ranks = r["end_to_end"], r["cache"], r["torchrun"]
    excess = e2e["peak_tree_pss_bytes"] - bare64["peak_rss_bytes"]
    ratio = e2e["images_per_second"] / bare64["images_per_second"]
    rank_excess = max(ranks["peak_rss_bytes_per_process"] or [0]) - bare32["peak_rss_bytes"]

    def goal(name, value, limit, stretch, text, higher=False):
        met = value >= limit if higher else value <= limit
        stretch_met = value >= stretch if higher else value <= stretch
        return {"goal": name, "value": value, "required": limit, "stretch": stretch, "met": met,
                "stretch_met": stretch_met, "text": text}

    return [
        goal("peak memory above the bare step (GiB)", excess / GIB, 1.5, 0.5,
             "whole process tree's peak PSS (training process + data workers) minus the bare step's peak RSS"),
        goal("end-to-end images/s over the bare step's", ratio, 0.75, 0.9,
             "training images / wall time of the whole command, against the bare step at batch 64", higher=True),
        goal("torchrun: each rank's peak RSS above the bare step at batch 32 (GiB)", rank_excess / GIB, 1.5, 0.5,
             "largest process's peak RSS (a rank) minus the bare step's at the per-rank batch"),
        goal("second run: seconds to the first step's start", cache["epoch_start_seconds_second_run"] or 1e9,
             10, 10, "from the command's start to its 'Epoch 1/1: started' line (files listed, data workers "
             "running, the model built; they print it just before taking the first batch)"),
    ]


def markdown(r: dict) -> str:
    m = r["machine"]
    e2e, cache, ranks = r["end_to_end"], r["cache"], r["torchrun"]
    lines = ["# Training at scale: a 30,000-photo JPEG folder streamed against the bare step", "",
             f"Machine: {m['cpu']} ({m.get('int8_instructions', '?')}), {m['cores']} cores, {m['arch']}. Folder: {r['images']:,} JPEG photos "
             f"(320x240, made from Fashion-MNIST by benchmarks/photo_folder.py). Model: {r['model']}. "
             "Reproduce: `.venv/bin/python benchmarks/data_scale.py`.", "",
             "| goal | measured | required | goal (stretch) | verdict |", "|---|---:|---:|---:|---|"]
    for g in r["goals"]:
        verdict = "met" + (" (stretch met too)" if g["stretch_met"] else " (stretch missed)") if g["met"] else "MISSED"
        lines.append(f"| {g['goal']} | {g['value']:.2f} | {g['required']} | {g['stretch']} | {verdict} |")
    b64, b32 = r["bare_step"]["64"], r["bare_step"]["32"]
    lines += ["", "## Figures", "",
              f"- Bare step, batch 64: {b64['images_per_second']:.1f} img/s, peak RSS {b64['peak_rss_bytes'] / GIB:.2f} GiB; "
              f"batch 32: {b32['images_per_second']:.1f} img/s, {b32['peak_rss_bytes'] / GIB:.2f} GiB.",
              "- Training images/s during one epoch, by `--workers` (default on this machine: "
              f"{r['default_workers']}): " + "; ".join(
                  f"{case}: " + ", ".join(f"{w} workers {rate:.1f}" for w, rate in rates.items())
                  for case, rates in r["worker_sweep"].items()) + ".",
              f"- `edgemb train`, one epoch (default workers): {e2e['train_images']:,} training + {e2e['val_images']:,} validation images in "
              f"{e2e['wall_seconds']:.0f} s: {e2e['images_per_second']:.1f} img/s end to end "
              f"({e2e['step_images_per_second']:.1f} img/s during the epoch's steps); first step after "
              f"{e2e['first_step_seconds']:.1f} s; peak RSS of the training process {e2e['peak_rss_bytes'] / GIB:.2f} GiB, "
              f"of the whole tree (PSS) {e2e['peak_tree_pss_bytes'] / GIB:.2f} GiB over {e2e['processes_seen']} processes; "
              f"validation top-1 {100 * e2e['val_top1']:.1f}%.",
              f"- A second run on the folder starts its first epoch after {cache['epoch_start_seconds_second_run']:.1f} s "
              f"and has finished its first step after {cache['first_step_seconds_second_run']:.1f} s "
              "(streaming needs no cache for that). One training sample (decode + 256x256 central square) reads in "
              f"{cache['read_ms_per_sample']['jpeg']:.2f} ms from these JPEGs and "
              f"{cache['read_ms_per_sample']['cache']:.2f} ms from `--cache` (built for 2,000 images in "
              f"{cache['read_ms_per_sample']['build_seconds_2000']:.1f} s, "
              f"{cache['read_ms_per_sample']['cache_bytes_2000'] / 2000 / 1024:.0f} KiB an image).",
              f"- torchrun, 2 ranks (OMP_NUM_THREADS=1), {ranks['train_images']:,} training images: "
              f"{ranks['wall_seconds']:.0f} s, peak RSS of its processes (the 2 ranks and their data workers) "
              f"{', '.join(f'{b / GIB:.2f}' for b in ranks['peak_rss_bytes_per_process'])} GiB, tree PSS "
              f"{ranks['peak_tree_pss_bytes'] / GIB:.2f} GiB."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
