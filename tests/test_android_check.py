"""make android-check: the app module type-checks with Kotlin 1.9.24 against stubs of the APIs it
uses, and the check fails on a wrong call, a wrong argument type or a resource that does not exist."""
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "android_demo/app/src/main"


def check(tmp_path: Path, edits: dict[str, list[tuple[str, str]]]) -> subprocess.CompletedProcess:
    """make android-check on a copy of the app's sources with `edits` ({file: [(old, new)]}) made."""
    app = tmp_path / "main"
    shutil.copytree(APP / "java", app / "java")
    shutil.copytree(APP / "res", app / "res")
    for name, replacements in edits.items():
        path = app / "java/org/edgemb/demo" / name
        text = path.read_text()
        for old, new in replacements:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        path.write_text(text)
    return subprocess.run(["make", "-s", "-C", str(REPO), "android-check", f"ANDROID_APP_SRC={app}",
                           f"ANDROID_CHECK_OUT={tmp_path / 'out'}"], capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_app_type_checks(tmp_path):
    result = check(tmp_path, {})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "out/classes/org/edgemb/demo/MainActivity.class").is_file()


@pytest.mark.slow
def test_wrong_calls_and_argument_types_fail(tmp_path):
    result = check(tmp_path, {
        "MainActivity.kt": [
            ("message.setTextColor(Color.RED)", "message.setTextColour(Color.RED)"),  # no such method
            ("message.setTextColor(Color.GRAY)", 'message.setTextColor("gray")'),  # wrong argument type
            ("findViewById(R.id.photo)", "findViewById(R.id.picture)"),  # not in res/layout
            ("provider.bindToLifecycle(this, selector, cameraPreview, frames)",
             "provider.bindToLifecycle(selector, this, cameraPreview, frames)"),  # CameraX, arguments swapped
        ],
        "Classifier.kt": [("Interpreter(model, options)", "Interpreter(model, threads)")],  # LiteRT
    })
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if ": error: " in line]

    def reported(file: str, message: str) -> bool:
        return any(file in line and message in line.lower() for line in errors)
    assert reported("MainActivity.kt", "unresolved reference: settextcolour")
    assert reported("MainActivity.kt", "type mismatch: inferred type is string but int was expected")
    assert reported("MainActivity.kt", "unresolved reference: picture")
    assert reported("MainActivity.kt", "type mismatch: inferred type is camera")  # CameraSelector as LifecycleOwner
    assert reported("Classifier.kt", "none of the following functions can be called")
