"""Java signature stubs of exactly the android.* and androidx.* APIs the app uses, for
`make android-check` only (never packaged, never run): kotlinc type-checks the app's
Kotlin against them, as Android Studio would against the real android.jar and AARs.

The signatures come from the .pyi files of chaquopy-stubs-android (generated from the
real android.jar, API 36) and its androidx companions; api.txt names the classes and
members the app uses. Each listed member gets every overload the .pyi has whose types
all exist here (listed classes, JDK classes), so a call with a wrong argument type or
to a member that does not exist fails to compile. Three things the .pyi cannot say are
given in api.txt: whether a type is a class, an interface or an enum; returns that
are long or double (the .pyi writes int and float for both widths); and the few
signatures whose generics the .pyi erased (written out as Java, from the API reference).
A `java.lang.Object` type argument in the .pyi is the erasure of a wildcard: it becomes `?`.

R.java is generated from the app's res/ folder: the ids, layouts and strings that exist.

    python generate.py --pyi DIR --res android_demo/app/src/main/res --out DIR
"""
import argparse
import re
import sys
from pathlib import Path
from xml.etree import ElementTree

PRIMITIVES = {"java.jint": "int", "java.jlong": "long", "java.jboolean": "boolean", "java.jfloat": "float",
              "java.jdouble": "double", "java.jshort": "short", "java.jbyte": "byte", "java.jchar": "char"}
PRIMITIVE_ARRAYS = {f"java.chaquopy.JavaArray{p[6:].capitalize()}": f"{j}[]" for p, j in PRIMITIVES.items()}
PLAIN_RETURNS = {"int": "int", "float": "float", "bool": "boolean", "str": "String", "None": "void"}
DEFAULTS = {"int": "0", "long": "0L", "boolean": "false", "float": "0f", "double": "0.0", "short": "0",
            "byte": "0", "char": "'0'"}
ROOTS = ("android", "androidx", "java", "javax", "org", "dalvik")


class Missing(Exception):
    """A type that is neither listed nor in the JDK: the overload using it is left out."""


def read_api(path: Path):
    """{class name: (kind, [member names])} and {class name: [verbatim Java members]}."""
    classes, verbatim = {}, {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("="):
            name, java = line[1:].split(":", 1)
            verbatim.setdefault(name.strip(), []).append(java.strip())
            continue
        head, _, members = line.partition(":")
        *kind, name = head.split()
        classes[name] = (" ".join(kind), members.split())
    return classes, verbatim


def module_of(name: str, classes: dict) -> tuple[str, list[str]]:
    """'android.widget.AdapterView.OnItemSelectedListener' -> ('android.widget', ['AdapterView', 'OnItemSelectedListener'])."""
    parts = name.split(".")
    first_class = next(i for i, part in enumerate(parts) if part[0].isupper())
    return ".".join(parts[:first_class]), parts[first_class:]


def pyi_class_body(pyi_root: Path, name: str, classes: dict) -> tuple[str, list[str]]:
    """The header line (bases) and the body lines of class `name` in its module's __init__.pyi."""
    module, path = module_of(name, classes)
    top = module.split(".")[0]
    pyi = pyi_root / f"{top}-stubs" / Path(*module.split(".")[1:]) / "__init__.pyi"
    if not pyi.is_file():
        raise SystemExit(f"{name}: no {pyi}")
    lines = pyi.read_text().splitlines()
    start, indent = 0, 0
    for depth, simple in enumerate(path):
        pattern = re.compile(rf"^{' ' * indent}class {simple}\b")
        start = next((i for i in range(start, len(lines)) if pattern.match(lines[i])), None)
        if start is None:
            raise SystemExit(f"{name}: class {simple} not found in {pyi}")
        if depth < len(path) - 1:
            indent += 4
            start += 1
    body_indent = " " * (indent + 4)
    body = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith(body_indent):
            break
        if line.startswith(body_indent) and not line.startswith(body_indent + " "):
            body.append(line.strip())
    type_vars = dict(re.findall(r"^\s*(_\w+) = typing\.TypeVar\('(\w+)'", "\n".join(lines), re.M))
    return lines[start].strip(), body, module, type_vars


class Translator:
    def __init__(self, classes: dict, module: str, type_vars: dict):
        self.classes, self.module, self.type_vars = classes, module, type_vars
        self.used_vars: list[str] = []

    def resolve(self, name: str) -> str:
        if name in self.type_vars:
            var = self.type_vars[name]
            if var not in self.used_vars:
                self.used_vars.append(var)
            return var
        full = name if name.split(".")[0] in ROOTS else f"{self.module}.{name}"
        if full in PRIMITIVES:
            return PRIMITIVES[full]
        if full in PRIMITIVE_ARRAYS:
            return PRIMITIVE_ARRAYS[full]
        if full.startswith(("java.", "javax.")) or full in self.classes:
            return full
        raise Missing(full)

    def type(self, text: str, returned: bool = False) -> str:
        """A .pyi annotation -> a Java type."""
        alternatives = [a.strip() for a in split_top(text, "|")]
        alternatives = [a for a in alternatives if a != "None" and not a.startswith("typing.Callable")] or ["None"]
        java_alternatives = [a for a in alternatives if a not in ("int", "float", "bool", "str")]
        choice = java_alternatives[0] if java_alternatives else alternatives[0]
        if choice in PLAIN_RETURNS:
            return PLAIN_RETURNS[choice] if returned or choice == "str" else {"int": "int", "float": "float",
                                                                                    "bool": "boolean"}[choice]
        choice = choice.strip("'\"")
        if choice == "java.lang.String":
            return "String"
        match = re.fullmatch(r"([\w.]+)\[(.*)\]", choice)
        if match:
            outer, args = match.groups()
            if outer == "java.chaquopy.JavaArray":
                return self.type(args) + "[]"
            converted = ["?" if a.strip() == "java.lang.Object" else self.type(a.strip()) for a in split_top(args, ",")]
            return f"{self.resolve(outer)}<{', '.join(converted)}>"
        return self.resolve(choice)


def split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside brackets."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return parts + [current]


def method(line: str, translator: Translator, owner: str, kind: str, return_override: str | None) -> str:
    match = re.fullmatch(r"def (\w+)\((.*)\) -> (.*): \.\.\.", line)
    name, params, returned = match.groups()
    translator.used_vars = []
    args, static, varargs = [], True, False
    for raw in split_top(params, ","):
        raw = raw.strip()
        if raw in ("/", ""):
            continue
        if raw == "self":
            static = False
            continue
        pname, _, annotation = raw.partition(":")
        if pname.startswith("*"):
            varargs = True
        args.append((translator.type(annotation.strip()) + ("..." if pname.startswith("*") else ""),
                     f"a{len(args)}"))
    signature = ", ".join(f"{t} {n}" for t, n in args)
    if name == "__init__":
        return f"public {owner}({signature}) {{}}"
    java_return = return_override or translator.type(returned, returned=True)
    class_vars = getattr(translator, "class_vars", [])
    method_vars = [v for v in translator.used_vars if v not in class_vars]
    generic = f"<{', '.join(method_vars)}> " if method_vars else ""
    if kind == "interface":
        return f"{'static ' if static else ''}{generic}{java_return} {name}({signature}){' { throw null; }' if static else ';'}"
    return f"public {'static ' if static else ''}{generic}{java_return} {name}({signature}) {{ throw null; }}"


def class_source(name: str, classes: dict, verbatim: dict, pyi_root: Path, nested: dict) -> str:
    kind, members = classes[name]
    header, body, module, type_vars = pyi_class_body(pyi_root, name, classes)
    simple = name.rsplit(".", 1)[1]
    translator = Translator(classes, module, type_vars)
    bases = split_top(re.fullmatch(r"class \w+\((.*)\):", header).group(1), ",") if "(" in header else []
    class_vars, supers = [], []
    for base in (b.strip() for b in bases):
        generic = re.fullmatch(r"typing\.Generic\[(.*)\]", base)
        if generic:
            class_vars = [translator.resolve(v.strip()) for v in split_top(generic.group(1), ",")]
            continue
        try:
            supers.append(translator.type(base))
        except Missing:
            pass  # a supertype the app does not use
    translator.class_vars = class_vars
    supers = [s for s in supers if s not in ("java.lang.Object",) and not s.startswith("java.lang.Enum")]
    # A JDK supertype of an Android class is an interface here (Closeable, AutoCloseable, Runnable).
    extends = [s for s in supers if classes.get(s.split("<")[0], ("interface",))[0].endswith("class")] \
        if kind.endswith("class") else []
    implements = [s for s in supers if s not in extends]
    returns = {m.split("->")[0]: m.split("->")[1] for m in members if "->" in m}
    wanted = {m.split("->")[0] for m in members}
    lines = []
    overridden = {re.search(r"(\w+)\(", v).group(1) for v in verbatim.get(name, [])}
    for member in sorted(wanted - {"<init>"} if kind == "enum" else wanted):
        found = False
        for line in body:
            pyi_name = "__init__" if member == "<init>" else member
            if line.startswith(f"def {pyi_name}(") and member not in overridden:
                try:
                    lines.append(method(line, translator, simple, kind, returns.get(member)))
                    found = True
                except Missing:
                    pass
            field = re.fullmatch(rf"{member}: (typing\.ClassVar\[(.*)\]|(.*)) = \.\.\.", line)
            if field:
                found = True
                if kind == "enum":
                    lines.append(f"{member},")
                    continue
                static = field.group(2) is not None
                java = translator.type(field.group(2) or field.group(3))
                lines.append(f"public {'static ' if static else ''}{java} {member};")
        if not found and member not in overridden:
            raise SystemExit(f"{name}.{member}: not in the .pyi (or only with types not listed in api.txt)")
    if kind == "enum":
        lines = [";".join(lines).rstrip(",") + ";"]
    lines += verbatim.get(name, [])
    type_params = f"<{', '.join(class_vars)}>" if class_vars else ""
    keyword = {"class": "class", "abstract class": "abstract class", "interface": "interface", "enum": "enum"}[kind]
    clauses = ""
    if extends:
        clauses += f" extends {extends[0]}"
    if implements:
        clauses += f" {'extends' if kind == 'interface' else 'implements'} {', '.join(implements)}"
    inner = [class_source(child, classes, verbatim, pyi_root, nested) for child in nested.get(name, [])]
    static = "static " if name in sum(nested.values(), []) and kind in ("class", "abstract class") else ""
    return (f"public {static}{keyword} {simple}{type_params}{clauses} {{\n"
            + "".join(f"    {line}\n" for line in lines) + "".join(inner) + "}\n")


def r_java(res: Path) -> str:
    """R for the app: every layout, @+id and string its res/ folder defines."""
    ids, layouts, strings = set(), set(), set()
    for layout in sorted((res / "layout").glob("*.xml")):
        layouts.add(layout.stem)
        ids |= set(re.findall(r'"@\+id/(\w+)"', layout.read_text()))
    for values in sorted((res / "values").glob("*.xml")):
        strings |= {e.get("name") for e in ElementTree.parse(values).getroot().iter("string")}

    def group(kind: str, names: set) -> str:
        return f"    public static final class {kind} {{\n" + "".join(
            f"        public static final int {n} = 0x7f{i:06x};\n" for i, n in enumerate(sorted(names))) + "    }\n"
    return ("package org.edgemb.demo;\n\npublic final class R {\n" + group("id", ids) + group("layout", layouts)
            + group("string", strings) + "}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pyi", type=Path, required=True, help="folder the chaquopy stub packages are installed in")
    parser.add_argument("--res", type=Path, required=True, help="the app's res/ folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--api", type=Path, default=Path(__file__).with_name("api.txt"))
    args = parser.parse_args()
    classes, verbatim = read_api(args.api)
    nested = {}
    for name in classes:
        outer = name.rsplit(".", 1)[0]
        if outer in classes:
            nested.setdefault(outer, []).append(name)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in classes:
        if name.rsplit(".", 1)[0] in classes:
            continue
        module, path = module_of(name, classes)
        folder = args.out / Path(*module.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        source = class_source(name, classes, verbatim, args.pyi, nested)
        (folder / f"{path[0]}.java").write_text(f"package {module};\n\n{source}")
    (args.out / "org/edgemb/demo").mkdir(parents=True, exist_ok=True)
    (args.out / "org/edgemb/demo/R.java").write_text(r_java(args.res))


if __name__ == "__main__":
    sys.exit(main())
