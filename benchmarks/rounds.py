"""What the benchmark scripts share: models timed in interleaved rounds through
`edgemb bench`'s own harness and target, ratios against a reference measured in the
same round, and the results files (Markdown + JSON, with the machine)."""
import json
import statistics
from pathlib import Path

from edge_mobilenet.bench.harness import Settings, benchmark
from edge_mobilenet.io import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def bench_rounds(runners: list, target, settings: Settings, rounds: int) -> list[dict]:
    """`rounds` bench records of the same models. Each round runs every model once, in
    turn, so the noise of a shared machine hits all of them alike; compare within rounds."""
    records = []
    for i in range(rounds):
        print(f"round {i + 1}/{rounds}: {len(runners)} models", flush=True)
        records.append(benchmark(runners, target, settings))
    return records


def median_ratio(records: list[dict], value, index: int, reference: int) -> float:
    """The median over rounds of value(result index) / value(result reference)."""
    return statistics.median(value(r["results"][index]) / value(r["results"][reference]) for r in records)


def median_latency(records: list[dict], index: int) -> float:
    return statistics.median(r["results"][index]["latency_ms"]["median"] for r in records)


def machine_line(record: dict) -> str:
    m = record["device"]["machine"]
    return (f"{m['cpu']} ({m.get('int8_instructions', '?')}), {m['cores']} cores, {m['arch']}, "
            f"Python {m.get('python', '?')}")


def write_results(name: str, record: dict, markdown: str) -> None:
    write_text_atomic(RESULTS / f"{name}.json", json.dumps(record, indent=2) + "\n")
    write_text_atomic(RESULTS / f"{name}.md", markdown)
    print(markdown)
    print(f"written: benchmarks/results/{name}.md and .json")
