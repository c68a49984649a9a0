"""The Python environment a workspace runs in: what it has installed, what it declares,
which modules are its own.

Found without running anything: ``VIRTUAL_ENV`` and ``CONDA_PREFIX``; a virtual environment
inside the workspace (``.venv``, ``venv``, ``env``, ``.env``, or ``UV_PROJECT_ENVIRONMENT``);
poetry's and pipenv's environments in their cache folders, matched by project name; the
conda environment named in ``environment.yml``. Declared dependencies come from
``pyproject.toml`` (PEP 621, dependency groups, poetry) and ``requirements*.txt``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from task_orchestrator.packages.index import normalise

__all__ = ["Environment", "environment_of"]

_VENV_DIRS = (".venv", "venv", "env", ".env")
_SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "build",
    "dist",
    "site-packages",
    ".eggs",
}
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_MODULE = re.compile(r"^([A-Za-z_]\w*)(?:\.[\w.-]*)?$")
_TTL = 5.0  # seconds a workspace's environment is reused (an install shows up after that)


class Environment:
    """Import names and distributions a workspace can use, and where they were found."""

    __slots__ = ("declared", "dists", "local", "modules", "site_dirs", "workspace")

    def __init__(self, workspace: Path | None) -> None:
        self.workspace = workspace
        self.site_dirs: list[Path] = []
        self.modules: set[str] = set()  # importable top-level names, installed
        self.dists: set[str] = set()  # installed distributions, normalised
        self.declared: set[str] = set()  # declared dependencies, normalised
        self.local: set[str] = set()  # the workspace's own modules and packages

    def has_module(self, top: str) -> bool:
        return top in self.modules


def _site_dirs(prefix: Path) -> list[Path]:
    found = [
        *sorted(prefix.glob("lib/python3*/site-packages")),
        *sorted(prefix.glob("lib64/python3*/site-packages")),
    ]
    win = prefix / "Lib" / "site-packages"
    return found + ([win] if win.is_dir() else [])


def _project_name(root: Path) -> str:
    try:
        import tomllib

        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError, ImportError):
        return root.name
    name = (data.get("project") or {}).get("name") or ((data.get("tool") or {}).get("poetry") or {}).get(
        "name"
    )
    return str(name or root.name)


def _prefixes(root: Path | None) -> list[Path]:
    """Environment folders for ``root``, nearest first."""
    out: list[Path] = []
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if os.environ.get(var):
            out.append(Path(os.environ[var]))
    if root is None:
        return out
    names = list(_VENV_DIRS)
    if os.environ.get("UV_PROJECT_ENVIRONMENT"):
        names.insert(0, os.environ["UV_PROJECT_ENVIRONMENT"])
    out += [root / n for n in names if (root / n / "pyvenv.cfg").is_file()]
    home = Path.home()
    project = _project_name(root)
    poetry = Path(os.environ.get("POETRY_VIRTUALENVS_PATH") or home / ".cache/pypoetry/virtualenvs")
    slug = re.sub(r'[ $`!*@"\\\r\n\t]', "_", project.lower())[:42]
    out += sorted(poetry.glob(f"{slug}-*-py*")) if poetry.is_dir() else []
    pipenv = Path(os.environ.get("WORKON_HOME") or home / ".local/share/virtualenvs")
    out += sorted(pipenv.glob(f"{root.name}-*")) if pipenv.is_dir() else []
    conda_file = root / "environment.yml"
    if conda_file.is_file():
        m = re.search(
            r"^name:\s*(\S+)", conda_file.read_text(encoding="utf-8", errors="replace"), re.MULTILINE
        )
        if m:
            for base in ("miniconda3", "anaconda3", "miniforge3", "mambaforge", ".conda"):
                if (home / base / "envs" / m.group(1)).is_dir():
                    out.append(home / base / "envs" / m.group(1))
    return out


def _scan_site(site: Path, env: Environment) -> None:
    try:
        entries = list(os.scandir(site))
    except OSError:
        return
    for e in entries:
        name = e.name
        if name.endswith((".dist-info", ".egg-info")):
            dist = name.rsplit("-", 1)[0] if name.endswith(".dist-info") else name[:-9]
            env.dists.add(normalise(dist.split("-")[0] if name.endswith(".egg-info") else dist))
            top = Path(e.path) / "top_level.txt"
            if top.is_file():
                env.modules.update(t.strip() for t in top.read_text(errors="replace").split() if t.strip())
            continue
        if name.endswith(".pth"):
            try:  # editable installs point at source folders
                lines = Path(e.path).read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                p = Path(line.strip())
                if line.strip() and not line.startswith(("import ", "#")) and p.is_dir():
                    env.modules.update(_module_names(p))
            continue
        m = _MODULE.match(name)
        if m and (e.is_dir() or name.endswith((".py", ".so", ".pyd"))):
            env.modules.add(m.group(1))


def _module_names(folder: Path) -> set[str]:
    out = set()
    try:
        for e in os.scandir(folder):
            if e.is_dir() and e.name.isidentifier() and e.name not in _SKIP_DIRS:
                out.add(e.name)
            elif e.name.endswith(".py") and e.name[:-3].isidentifier():
                out.add(e.name[:-3])
    except OSError:
        pass
    return out


def _local_modules(root: Path, limit: int = 20000) -> set[str]:
    """Module and package names anywhere in the workspace (tests add folders to sys.path)."""
    out: set[str] = set()
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d
            for d in dirnames
            if d not in _SKIP_DIRS and not d.startswith(".") and not (Path(dirpath, d, "pyvenv.cfg").exists())
        ]
        out.update(d for d in dirnames if d.isidentifier())
        out.update(f[:-3] for f in filenames if f.endswith((".py", ".pyi")) and f[:-3].isidentifier())
        out.update(f.split(".")[0] for f in filenames if f.endswith((".so", ".pyd")))
        seen += len(filenames) + len(dirnames)
        if seen > limit:
            break
    return out


def _declared(root: Path) -> set[str]:
    out: set[str] = set()
    specs: list[str] = []
    try:
        import tomllib

        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError, ImportError):
        data = {}
    project = data.get("project") or {}
    specs += list(project.get("dependencies") or [])
    for group in (project.get("optional-dependencies") or {}).values():
        specs += list(group)
    for group in (data.get("dependency-groups") or {}).values():
        specs += [g for g in group if isinstance(g, str)]
    poetry = (data.get("tool") or {}).get("poetry") or {}
    tables = [poetry.get("dependencies") or {}, poetry.get("dev-dependencies") or {}]
    tables += [(g or {}).get("dependencies") or {} for g in (poetry.get("group") or {}).values()]
    for table in tables:
        out.update(normalise(k) for k in table if k.lower() != "python")
    reqs = sorted(root.glob("requirements*.txt")) + sorted(root.glob("requirements/*.txt"))
    for req in reqs:
        try:
            specs += req.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    for spec in specs:
        if spec.strip().startswith(("-", "#")):
            continue
        m = _REQ_NAME.match(spec)
        if m:
            out.add(normalise(m.group(1)))
    return out


_CACHE: dict[str, tuple[float, Environment]] = {}


def environment_of(workspace: Path | str | None) -> Environment:
    """The environment of ``workspace`` (None: only ``VIRTUAL_ENV``/``CONDA_PREFIX`` and this
    interpreter), reused for a few seconds."""
    root = Path(workspace).resolve() if workspace else None
    key = str(root)
    hit = _CACHE.get(key)
    if hit and time.monotonic() - hit[0] < _TTL:
        return hit[1]
    env = Environment(workspace=root)
    for prefix in _prefixes(root):
        for site in _site_dirs(prefix):
            if site not in env.site_dirs:
                env.site_dirs.append(site)
                _scan_site(site, env)
    if root is not None and root.is_dir():
        env.local = _local_modules(root)
        env.declared = _declared(root)
    _CACHE[key] = (time.monotonic(), env)
    return env


def installed_here(top: str) -> bool:
    """Can this interpreter import ``top`` (without importing it)? (``check_import`` has
    ruled out the standard library before asking.)"""
    import importlib.util

    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False
