"""Issue 16's export figures: SIGKILLs at four different moments of an ImageNet
MobileNetV2 export, each followed by a wait, then the next export.

    .venv/bin/python benchmarks/crash_export.py [--seed N] [--work DIR]

`edgemb pretrained mobilenet_v2`, then `edgemb export RUN --int8 --calib-data <scikit-image
photos>`, killed (SIGKILL of the edgemb process only, as an OOM kill or a closed laptop
would) while loading and calibrating, while writing ONNX into the partial folder, while
the TensorFlow worker converts, and while validating. After each kill: the processes it
had started that are still alive 10 s later. After the next export: the partial folders
left beside the bundle, and whether every file of the bundle opens. Goal: 0 and 0.
Results: benchmarks/results/crash_export.{md,json}.
"""
import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.rounds import write_results  # noqa: E402
from tests.faults import TALLY, Command, check_complete, edgemb_argv, temporaries  # noqa: E402
from tests.photos import PHOTO_DIR  # noqa: E402


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--work", type=Path, help="Folder for the run and the bundle [default: a temporary one].")
    args = parser.parse_args()
    r = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgemb-crash-"))
    run, out = work / "imagenet-run", work / "bundle"
    subprocess.run(edgemb_argv("pretrained", "mobilenet_v2", "--out", run, "--force"), check=True,
                   capture_output=True)
    export = edgemb_argv("export", run, "--int8", "--calib-data", PHOTO_DIR, "--out", out, "--force")

    moments = [  # (moment, wait for this, then a random extra delay up to this many seconds)
        ("loading the run and calibrating", lambda c: True, 4.0),
        ("writing ONNX into the partial folder", lambda c: bool(list(work.glob(".bundle.partial-*"))), 3.0),
        ("TensorFlow worker converting", lambda c: c.child_running("tflite_worker"), 6.0),
        ("validating the artifacts", lambda c: "model.int8.tflite" in c.stderr()
         and not c.child_running("tflite_worker"), 1.0),
    ]
    kills = []
    for n, (moment, condition, spread) in enumerate(moments):
        command = Command(export, work / f"export-{n}.log")
        if not command.wait_for(lambda: condition(command), timeout=900):
            sys.exit(f"the export ended before {moment}: {command.stderr()[-1000:]}")
        time.sleep(r.uniform(0, spread))
        killed = command.kill()
        if killed is None:
            sys.exit(f"the export finished before the kill ({moment})")
        partial = [p for p in work.glob(".bundle.partial-*") if p.is_dir()]
        killed |= {"moment": moment, "partial_folders_after_kill": len(partial),
                   "partial_mb_after_kill": round(sum(folder_mb(p) for p in partial), 1)}
        kills.append(killed)
        print(f"kill {n + 1} ({moment}) at {killed['at_s']} s: {killed['children_at_kill']} child processes, "
              f"{killed['survivors']} alive 10 s later; {len(partial)} partial folder(s) beside the bundle")

    start = time.monotonic()
    final = Command(export, work / "export-final.log")
    code = final.finish()
    seconds = time.monotonic() - start
    left = temporaries(work)
    problems = check_complete(out) if code == 0 else ["the next export failed: " + final.stderr()[-500:]]
    survivors = sum(k["survivors"] for k in kills)
    met = survivors == 0 and not left and not problems and len(kills) == 4
    record = {"goal": "4 SIGKILLs of an ImageNet MobileNetV2 int8 export: 0 surviving processes after each, "
                      "0 partial folders after the next export, every file of that bundle complete",
              "met": met, "seed": args.seed, "machine": machine_info(), "kills": kills,
              "surviving_processes": survivors, "partial_folders_after_next_export": len(left),
              "left_after_next_export": [p.name for p in left], "next_export_seconds": round(seconds, 1),
              "next_export_exit_code": code, "bundle_files": sorted(p.name for p in out.iterdir()) if out.is_dir()
              else [], "incomplete_files": problems, "invariant_checks": TALLY.checks}
    machine = record["machine"]
    rows = "\n".join(f"| {n + 1} | {k['moment']} | {k['at_s']} | {k['children_at_kill']} | {k['survivors']} | "
                     f"{k['partial_folders_after_kill']} ({k['partial_mb_after_kill']} MB) |"
                     for n, k in enumerate(kills))
    markdown = f"""# SIGKILL during an ImageNet MobileNetV2 export (issue 16)

Goal: {record['goal']}. **{'Met' if met else 'Not met'}.**

Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}. Seed {args.seed}.
Command: `edgemb export RUN --int8 --calib-data <scikit-image photos> --force`, RUN from
`edgemb pretrained mobilenet_v2`; each kill is a SIGKILL of the edgemb process alone,
followed by a 10 s wait for its children to go.

| kill | moment | at (s) | child processes at the kill | alive after the wait | partial folders right after |
|---|---|---|---|---|---|
{rows}

Next export: exit code {code} in {seconds:.0f} s; afterwards **{len(left)} partial folders**
beside the bundle{(' (' + ', '.join(record['left_after_next_export']) + ')') if left else ''}, and
{len(record['bundle_files'])} bundle files, {len(problems)} of them incomplete (each model loaded by
its runtime, each JSON parsed). {TALLY.checks} invariant checks in all.

Reproduce: `.venv/bin/python benchmarks/crash_export.py --seed {args.seed}`.
"""
    write_results("crash_export", record, markdown)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
