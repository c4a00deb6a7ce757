"""The code stays easy to pick up: small modules, short functions, public functions documented.

These read the source tree, so they fail the moment a change breaks a size limit, rather than
leaving it to a reviewer's eye.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("briefmail", "scheduler", "subscribers", "mailer")
#: Everything Python that we write and read: the packages, the benchmarks and the tests.
CHECKED = (*PACKAGES, "bench", "tests")
MODULE_LIMIT = 600
FUNCTION_LIMIT = 60


def python_files(*folders: str) -> list[Path]:
    """Every .py file under the given top-level folders, sorted."""
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def long_functions(path: Path, limit: int) -> list[str]:
    """'file:line name (N lines)' for each function in ``path`` longer than ``limit`` lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            # Decorators are part of what a reader must take in, the docstring too.
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - first + 1
            if length > limit:
                where = path.relative_to(ROOT)
                found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_module_is_over_600_lines() -> None:
    """No module in the packages, benchmarks or tests grows past 600 lines."""
    too_long = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for path in python_files(*CHECKED)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LIMIT
    ]
    assert not too_long, "split these by concern:\n" + "\n".join(too_long)


def test_no_function_is_over_60_lines() -> None:
    """No function or method anywhere we write code is longer than 60 lines."""
    found = [hit for path in python_files(*CHECKED) for hit in long_functions(path, 60)]
    assert not found, "split these into named steps:\n" + "\n".join(found)


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    """The function check counts decorators and body, so a 61-line function is caught."""
    body = "\n".join(f"    x{n} = {n}" for n in range(59))
    source = tmp_path / "long.py"
    source.write_text(f"import functools\n\n@functools.cache\ndef f():\n{body}\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert long_functions(source, FUNCTION_LIMIT) == ["long.py:4 f (61 lines)"]
        assert long_functions(source, 61) == []
    finally:
        ROOT = saved


def public_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level functions and methods of public module-level classes, by public name.

    Functions nested in functions are a body's private steps, so they are not counted.
    """
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("_"):
            continue  # a private class's methods are its module's business
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        found.extend(
            member
            for member in members
            if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef)
            and not member.name.startswith("_")
        )
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_function_has_a_docstring(package: str) -> None:
    """Each public function and method in the packages says in its first line what it does."""
    missing = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for path in python_files(package)
        for node in public_functions(ast.parse(path.read_text(encoding="utf-8")))
        if not ast.get_docstring(node)
    ]
    assert not missing, "document these:\n" + "\n".join(missing)
