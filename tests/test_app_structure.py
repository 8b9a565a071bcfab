"""The app's shape, read from its source with ``ast``: no page imports another page, not even through a part of
a page (app/draw_lab.py, say) or a shared module. What two pages share lives in app/shared.py."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

APP = ROOT / "app"


def page_modules(main: Path = APP / "navigation.py") -> set[str]:
    """The modules whose ``render`` app/navigation.py hands to ``st.Page``: {"draw_page", ...}."""
    pages = set()
    for node in ast.walk(ast.parse(main.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page":
            first = node.args[0]
            assert isinstance(first, ast.Attribute) and first.attr == "render", ast.unparse(node)
            pages.add(ast.unparse(first.value))
    return pages


def app_imports(module: str, app: Path = APP) -> set[str]:
    """The modules of app/ (top level, e.g. "shared") that app/<module>.py imports, however it spells it."""
    found = set()
    for node in ast.walk(ast.parse((app / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "app":  # from app import x, y
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app."):  # from app.x import y
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):  # import app.x
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("app.")}
    return {name for name in found if (app / f"{name}.py").exists()}  # app/logic is a package: never a page


def reached_from(module: str, app: Path = APP) -> set[str]:
    """Every top-level app module that importing ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for name in app_imports(todo.pop(), app) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def test_navigation_lists_the_five_pages() -> None:
    assert page_modules() == {"draw_page", "pets_page", "compare_page", "train_page", "feedback_page"}


def test_no_page_imports_another_page() -> None:
    pages = page_modules()
    crossings = {page: sorted(reached_from(page) & (pages - {page})) for page in sorted(pages)}
    assert crossings == {page: [] for page in sorted(pages)}


def test_the_check_sees_every_spelling_of_an_import(tmp_path: Path) -> None:
    for name in ("a_page", "b_page", "c_page", "d_page", "part", "shared"):
        (tmp_path / f"{name}.py").write_text("")
    (tmp_path / "a_page.py").write_text("from app import part\nfrom app.logic import lab\n")
    (tmp_path / "part.py").write_text("from app.b_page import render\n")  # a page, through a part
    (tmp_path / "c_page.py").write_text("import app.d_page\nfrom app.shared import x\n")
    assert reached_from("a_page", tmp_path) == {"part", "b_page"}
    assert reached_from("c_page", tmp_path) == {"d_page", "shared"}
    assert reached_from("b_page", tmp_path) == set()


def test_the_server_starts_the_pages_script_after_loading_every_model() -> None:
    """``streamlit run app/main.py`` finds an ``st.App`` there (Streamlit's own discovery, which reads the source
    without running it) serving app/navigation.py, with a lifespan: the hook that loads the models first."""
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(APP / "main.py")
    assert found.is_asgi_app and found.import_string == "main:streamlit_app"
    calls = [node for node in ast.walk(ast.parse((APP / "main.py").read_text())) if isinstance(node, ast.Call)
             and ast.unparse(node.func) == "st.App"]
    assert len(calls) == 1 and "navigation.py" in ast.unparse(calls[0].args[0])
    assert [k.arg for k in calls[0].keywords] == ["lifespan"]
