"""`edgemb demo` end to end, shortened (tiny model, one epoch), and its report in a real browser."""
import json
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

# Counts what the browser made of the page once it has loaded: images that failed to decode
# have naturalWidth 0.
CHECK_SCRIPT = """<script>window.addEventListener("load", () => {
  const images = [...document.images];
  document.body.dataset.check = JSON.stringify({
    tables: document.querySelectorAll("table").length, images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).length,
    width: document.documentElement.scrollWidth});
});</script>"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    (work / "android_demo" / "app").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "edge_mobilenet.cli", "demo", "--scratch", "--alpha", "0.35",
                             "--resolution", "32", "--epochs", "1", "--train-subset", "2000", "--name", "tiny"],
                            cwd=work, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    return work, result


def test_demo_writes_every_artifact_and_says_where(demo):
    work, result = demo
    bundle = work / "export" / "tiny"
    for name in ("model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite", "report.md",
                 "bench-cpu.json", "bench-arm64.json", "demo-report.html"):
        assert (bundle / name).is_file(), name
    assert (work / "runs" / "tiny" / "curves.png").is_file()
    app_model = work / "android_demo" / "app" / "src" / "main" / "assets" / "model.tflite"
    assert app_model.read_bytes() == (bundle / "model.int8.tflite").read_bytes()
    assert "export/tiny/demo-report.html" in result.stdout
    arm64 = json.loads((bundle / "bench-arm64.json").read_text())
    assert arm64["device"]["emulated"] is True
    assert all(r["parity"]["top1_agreement"] == 1.0 for r in arm64["results"])


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(demo, tmp_path):
    work, _ = demo
    page = (work / "export" / "tiny" / "demo-report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"))
    result = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                             "--window-size=1280,2000", "--dump-dom", probe.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-check="([^"]+)"', result.stdout)
    assert found, "the page did not finish loading"
    check = json.loads(found.group(1).replace("&quot;", '"'))
    assert check["tables"] >= 5 and check["images"] >= 4
    assert check["broken"] == 0
    assert check["width"] <= 1280 + 40  # no page-wide horizontal scrolling
