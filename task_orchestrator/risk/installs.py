"""The install-time package guard: what a parsed command would install from a registry, and
whether those names exist (``task_orchestrator.packages``, loaded only for install commands).

Recognised: ``pip``/``pip3``/``python -m pip install``, ``uv pip install``, ``uv add``,
``poetry add``, ``pipx install``/``pipx run``, ``npm install|i|add``, ``pnpm add|install``,
``yarn add``, ``bun add``. Operands that are paths, URLs, archives, VCS or direct references
are not registry names and are left alone. Levels: a name on no registry is critical
(denied: installing it fails, or installs whatever a squatter registered since); a likely
typosquat or slopsquat of a popular package is high (asks, with the popular name). With a
private index named in the command or the environment, a name missing from PyPI asks.
"""

from __future__ import annotations

import os
import re

from task_orchestrator.risk.shell import Cmd

__all__ = ["install_findings", "install_targets"]

_PIP_VALUE_OPTS = frozenset(
    "-r --requirement -c --constraint -e --editable -i --index-url --extra-index-url -f "
    "--find-links -t --target --prefix --root --platform --python-version --implementation "
    "--abi --src --upgrade-strategy --progress-bar --log --cache-dir --trusted-host --proxy "
    "--timeout --retries --global-option --config-settings -C --no-binary --only-binary "
    "--report --python -p --group --optional --extra --package --index --default-index --rev "
    "--tag --branch --source -G --extras -E --pip-args --suffix --spec --with --constraints "
    "--overrides --python-platform --exclude-newer --keyring-provider --index-strategy "
    "--resolution --prerelease --link-mode --directory --project -P --marker -m".split()
)
_NPM_VALUE_OPTS = frozenset(
    "--registry --prefix -w --workspace --tag --omit --include --save-prefix --cache "
    "--userconfig --filter -C --dir --cwd --modules-folder --network-timeout".split()
)
_PRIVATE_OPTS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--index",
    "--default-index",
    "--source",
    "--registry",
)
_PRIVATE_ENV = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "POETRY_REPOSITORIES",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
)
_PEP508 = re.compile(
    r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*"
    r"(?:[<>=!~;]|$)"
)
_NPM_NAME = re.compile(r"^((?:@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*)(?:@[^/]*)?$", re.IGNORECASE)
_NOT_A_NAME = re.compile(
    r"://|^(?:git\+|file:|link:|github:|gitlab:|bitbucket:|npm:|workspace:)|"
    r"\.(?:whl|tar\.gz|tgz|zip|tar\.bz2)$|^[.~/]"
)


def _subcommand(cmd: Cmd) -> tuple[str, list[str]] | None:
    """(ecosystem, the arguments after the install verb) of an install command, else None."""
    prog, args = cmd.prog, cmd.args
    base = re.sub(r"[\d.]+$", "", prog)
    if base == "python" or base == "py" or prog.startswith("python"):
        if args[:2] == ["-m", "pip"] or (args[:1] == ["-m"] and args[1:2] == ["pip3"]):
            args = args[2:]
            base = "pip"
        else:
            return None
    if base == "pip":
        return ("pypi", args[1:]) if args[:1] == ["install"] else None
    if prog == "uv":
        if args[:2] == ["pip", "install"]:
            return "pypi", args[2:]
        return ("pypi", args[1:]) if args[:1] == ["add"] else None
    if prog == "poetry":
        return ("pypi", args[1:]) if args[:1] == ["add"] else None
    if prog == "pipx":
        return ("pypi", args[1:]) if args[:1] in (["install"], ["run"], ["inject"]) else None
    if prog in ("npm", "pnpm", "yarn", "bun"):
        verbs = {
            "npm": ("install", "i", "add", "isntall", "in"),
            "pnpm": ("add", "install", "i"),
            "yarn": ("add",),
            "bun": ("add", "install", "i"),
        }[prog]
        return ("npm", args[1:]) if args[:1] and args[0] in verbs else None
    return None


def install_targets(cmd: Cmd) -> tuple[str, list[str], list[str]] | None:
    """(ecosystem, registry names, other package sources named) of an install command:
    indexes and find-links folders from its options and the environment."""
    found = _subcommand(cmd)
    if found is None:
        return None
    ecosystem, args = found
    value_opts = _PIP_VALUE_OPTS if ecosystem == "pypi" else _NPM_VALUE_OPTS
    names: list[str] = []
    sources = [a.split("=", 1)[1] for a in cmd.assigns if a.split("=", 1)[0] in _PRIVATE_ENV]
    sources += [os.environ[v] for v in _PRIVATE_ENV if os.environ.get(v)]
    words = cmd.argv[len(cmd.argv) - len(args) :]
    skip = ""
    for word in words:
        value = word.value
        if skip:
            if skip in _PRIVATE_OPTS:
                sources.append(value)
            skip = ""
            continue
        if value.startswith("-"):
            option, _, inline = value.partition("=")
            if option in _PRIVATE_OPTS and inline:
                sources.append(inline)
            skip = value if value in value_opts else ""
            continue
        if (
            not word.static
            or _NOT_A_NAME.search(value)
            or " @ " in value
            or (ecosystem == "pypi" and "/" in value)
        ):
            continue
        if ecosystem == "npm" and "/" in value and not value.startswith("@"):
            continue  # user/repo: a GitHub shorthand
        m = (_PEP508 if ecosystem == "pypi" else _NPM_NAME).match(value.strip())
        if m:
            names.append(m.group(1))
    return ecosystem, names, sources


def _in_local_source(name: str, sources: list[str]) -> bool | None:
    """Whether local wheel folders among ``sources`` hold ``name``; None if a source is remote
    (an index that may serve names PyPI does not have)."""
    from task_orchestrator.packages import normalise

    remote = False
    want = normalise(name)
    for source in sources:
        for item in source.split():
            folder = item.removeprefix("file://")
            if os.path.isdir(folder):
                try:
                    files = os.listdir(folder)
                except OSError:
                    continue
                if any(normalise(re.split(r"-\d", f, maxsplit=1)[0]) == want for f in files):
                    return True
            else:
                remote = True
    return None if remote else False


def install_findings(cmd: Cmd) -> list[tuple[str, str, str]]:
    """(level, reason, rule id) for every name an install command would fetch that is not right."""
    targets = install_targets(cmd)
    if not targets or not targets[1]:
        return []
    ecosystem, names, sources = targets
    try:
        from task_orchestrator.packages import check_package

        verdicts = [check_package(name, ecosystem) for name in dict.fromkeys(names)]
    except Exception as exc:  # no snapshot, a broken install: say so, judge the rest
        return [
            (
                "medium",
                f"the package check could not run ({type(exc).__name__}: {exc})",
                "installs.check-failed",
            )
        ]
    out = []
    for verdict in verdicts:
        name = verdict.name
        hint = verdict.suggestion()
        reason = verdict.message() + (f"; {hint}" if hint and verdict.suggestions else "")
        if verdict.status == "missing":
            local = _in_local_source(name, sources) if sources else False
            if local is None:
                out.append(
                    (
                        "high",
                        f"{reason} (another package index is configured: confirm it serves this name)",
                        "installs.other-index",
                    )
                )
            elif not local:
                out.append(("critical", reason, "installs.unknown-package"))
        elif verdict.status in ("typosquat", "slopsquat"):
            out.append(("high", reason, "installs.lookalike-name"))
    return out
