"""The product code stays in pieces a reader can hold: no module over 400
lines, no function over 60. Tests, migrations and benchmarks are not product."""

import ast
import subprocess

from django.conf import settings

MODULE_MAX_LINES = 400
FUNCTION_MAX_LINES = 60


def product_modules() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        path
        for path in listed
        if "/tests/" not in path and "/migrations/" not in path and not path.startswith(("benchmarks/", "deploy/"))
    ]


def test_product_modules_are_short_and_so_are_their_functions():
    too_long = []
    for path in product_modules():
        source = (settings.BASE_DIR / path).read_text()
        if len(source.splitlines()) > MODULE_MAX_LINES:
            too_long.append(f"{path}: {len(source.splitlines())} lines")
        too_long.extend(
            f"{path}: {node.name}() has {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > FUNCTION_MAX_LINES
        )

    assert len(product_modules()) > 50
    assert too_long == []
