import json
import subprocess
import sys

import pytest

EDGEMB = [sys.executable, "-m", "edge_mobilenet.cli"]


def run(*args):
    return subprocess.run([*EDGEMB, *args], capture_output=True, text=True, timeout=120)


def test_profile_json_schema_and_numbers():
    r = run("profile", "--arch", "mobilenet_v1", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert round(d["total"]["macs"] / 1e6) == 569
    assert round(d["total"]["params"] / 1e6, 1) == 4.2
    assert d["total"]["bn_params"] == 21888
    assert {"name", "kind", "macs", "params"} <= set(d["layers"][0])
    assert {"dw_macs", "pw_macs", "standard_macs", "ratio", "formula_ratio"} <= set(d["separable"][0])


def test_profile_smallest_resolution():
    r = run("profile", "--arch", "mobilenet_v2", "--alpha", "0.35", "--resolution", "32", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["layers"][-2]["out_size"] == 1


def test_profile_table_shows_totals_and_pairs():
    r = run("profile", "--arch", "mobilenet_v2", "--alpha", "0.5", "--resolution", "160")
    assert r.returncode == 0, r.stderr
    assert "1/N+1/Dk²" in r.stdout and "total" in r.stdout
    assert "mobilenet_v2 0.5-160" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--alpha", "0"], "--alpha"),
    (["--alpha", "-1"], "--alpha"),
    (["--alpha", "1e9"], "--alpha"),
    (["--alpha", "wide"], "--alpha"),
    (["--resolution", "16"], "--resolution"),
    (["--resolution", "22.5"], "--resolution"),
    (["--arch", "resnet"], "--arch"),
    (["--num-classes", "0"], "--num-classes"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    r = run("profile", *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0]
    assert "Traceback" not in r.stderr
