"""What `pip install .` brings is what the package imports: a module-level import of a distribution that
pyproject.toml does not declare makes `import perceiver_lite` fail on a user's clean install. Checked
statically (a real install would download torch): each module's top-level imports are read with `ast`
and mapped to the distributions that provide them."""

import ast
import functools
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "perceiver_lite"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def distribution_name(requirement):
    "'torch>=2.1' → 'torch'; names compared in PEP 503's normal form."
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()


def declared(extra=None):
    """The distributions `[project].dependencies` declares, or those an extra adds (extras of the project
    expanded)."""
    requirements = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    names = set()
    for requirement in requirements:
        nested = re.match(r"perceiver[_-]lite\[(.+)\]", requirement)
        names |= (
            set().union(*(declared(e) for e in nested.group(1).split(",")))
            if nested
            else {distribution_name(requirement)}
        )
    return names


def top_level_imports(path):
    "The top-level package names a module imports when it is loaded (imports inside functions are lazy)."
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"perceiver_lite"}


@functools.cache
def distributions(import_name):
    "The installed distributions that provide `import_name`."
    providers = importlib.metadata.packages_distributions().get(import_name, [])
    assert providers, f"no installed distribution provides the module {import_name!r}"
    return {distribution_name(name) for name in providers}


def loaded_by_import():
    "The package's modules that `import perceiver_lite` loads, in a fresh interpreter."
    code = "import sys, json, perceiver_lite; "
    code += "print(json.dumps(sorted(m for m in sys.modules if m.startswith('perceiver_lite.'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def test_import_perceiver_lite_needs_only_declared_dependencies():
    core = declared()
    for module in loaded_by_import():
        path = PACKAGE.joinpath(*module.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")  # a subpackage or a module
        for name in top_level_imports(path):
            missing = distributions(name) - core
            assert distributions(name) & core, (
                f"{path.name} imports {name!r} when `import perceiver_lite` loads it, "
                f"but [project].dependencies does not declare {sorted(missing)}"
            )


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_every_module_imports_what_the_project_declares(path):
    "Any module's top-level imports come from the dependencies or one of the extras."
    everything = declared() | set().union(*(declared(extra) for extra in PROJECT["optional-dependencies"]))
    for name in top_level_imports(path):
        assert distributions(name) & everything, (
            f"{path.name} imports {name!r}, which no requirement declares"
        )


def test_the_check_sees_an_undeclared_import(tmp_path):
    "The check can fail: a module importing einops is caught when einops is not declared."
    module = tmp_path / "uses_einops.py"
    module.write_text("import math\nfrom einops import rearrange\n\ndef f():\n    import matplotlib\n")
    assert top_level_imports(module) == {"einops"}
    assert not distributions("einops") & {"torch", "numpy", "tqdm", "safetensors"}
