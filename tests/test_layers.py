"""The layers of edge_mobilenet point one way: a module imports only its own layer or lower
ones (README.md, "Working on edgemb"). Read from the source, lazy imports included."""
import ast
from pathlib import Path

import edge_mobilenet

PACKAGE = Path(edge_mobilenet.__file__).parent
LAYERS = {
    1: ["__init__", "models", "cost", "data", "io", "errors", "checkpoints", "metrics", "run", "pretrained",
        "tflite_metadata", "processes", "progress", "quantization"],
    2: ["runtime", "train"],
    3: ["export"],
    4: ["bench", "report_html", "report_text"],
    5: ["cli", "demo"],
}
LAYER = {name: layer for layer, names in LAYERS.items() for name in names}


def imported_parts(node: ast.AST, module: tuple[str, ...]) -> list[str]:
    """The top-level parts of edge_mobilenet that an import statement in `module` names."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("edge_mobilenet.")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        path = node.module.split(".") if node.module.startswith("edge_mobilenet") else []
        path = path[1:] if path else None
    else:
        path = list(module[:-1])[:len(module) - node.level] + (node.module.split(".") if node.module else [])
    if path is None:
        return []
    if path:
        return [path[0]]
    # `from . import x` at the package root: x is a submodule or a name from __init__
    return [a.name if a.name in LAYER else "__init__" for a in node.names]


def upward_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).with_suffix("").parts
        own = LAYER[module[0] if len(module) > 1 or module[0] in LAYER else "__init__"]
        for node in ast.walk(ast.parse(path.read_text())):
            for part in imported_parts(node, module):
                if LAYER.get(part, 0) > own:
                    found.append(f"{'/'.join(module)}.py:{node.lineno} (layer {own}) imports {part} "
                                 f"(layer {LAYER[part]})")
    return found


def test_every_module_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert parts - set(LAYER) == set(), "add the new module to LAYERS here and to the README's layer list"


def test_no_module_imports_a_higher_layer():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import():
    runtime_module = ("runtime", "litert")
    node = ast.parse("from ..export.bundle import export_bundle").body[0]
    assert imported_parts(node, runtime_module) == ["export"]
    assert LAYER["export"] > LAYER["runtime"]
