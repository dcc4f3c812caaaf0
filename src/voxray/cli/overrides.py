"""A misspelt override is one line that names the nearest valid name, before Hydra composes the
config and before torch is imported.

    python train.py model.optimiser.lr=1e-3
    error: model.optimiser.lr=1e-3: the config has no model.optimiser; did you mean model.optimizer.lr=1e-3?

Checked against the config composed with the command's group choices (`experiment=`, `model=`, ...):
each group option names a file of `conf/<group>/`, each `key=value` a key that exists, and a
`+key=value` must not add a key one letter away from one that exists (`+model.optimiser.lr`
beside `optimizer`, `+trainer.max_epoch` beside `max_epochs`): Hydra would accept it, and the run
would die minutes later on an unexpected keyword argument. Entries of a named collection
(`+callbacks.probe._target_=...`) and `++key=value` are added as asked.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import OmegaConf

from voxray.errors import UserError

# Hydra's flags that print something instead of running: no override of theirs is checked
INFO_FLAGS = ("-h", "--help", "--hydra-help", "--version", "-sc", "--shell-completion", "--info", "-i",
              "--experimental-rerun")
SEARCH_PATH_FLAGS = ("-cp", "--config-path", "-cd", "--config-dir")  # another config: Hydra checks it


def check_overrides(config_dir: str | Path, config_name: str, argv: Sequence[str] | None = None) -> None:
    """Raise a UserError naming the nearest valid name for a misspelt key or group option of `argv`
    (the command's arguments, sys.argv[1:] by default), composing `config_name` from `config_dir`.

    Arguments Hydra cannot parse, and commands that only print (`--help`, `--info`, ...), are left
    to Hydra's own messages.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a.split("=")[0] in INFO_FLAGS + SEARCH_PATH_FLAGS for a in args):
        return
    args, config_name = _overrides_and_config_name(args, config_name)
    try:
        overrides = [o for o in OverridesParser.create().parse_overrides(args) if not _is_hydra(o)]
    except HydraException:
        return
    with _hydra(config_dir) as groups:
        chosen = [o for o in overrides if o.key_or_group in groups]
        for override in chosen:
            _check_options(override, groups[override.key_or_group])
        try:
            base = compose(config_name, overrides=[_first_choice(o) for o in chosen])
        except HydraException:
            return  # something beyond a name: Hydra's message says what
    config = OmegaConf.to_container(base, resolve=False)
    added: set[tuple[str, ...]] = {tuple(o.key_or_group.split(".")) for o in overrides if o.is_add()}
    for override in overrides:
        if override.key_or_group not in groups and not override.is_force_add():
            _check_key(override, config, groups, added)


def _overrides_and_config_name(args: list[str], config_name: str) -> tuple[list[str], str]:
    """The overrides among `args` (flags and their values dropped), and the config `-cn` names."""
    overrides, flags_with_value = [], ("-c", "--cfg", "-p", "--package", "-cn", "--config-name")
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in ("-cn", "--config-name") and i + 1 < len(args):
            config_name, skip = args[i + 1], True
        elif arg.startswith("--config-name="):
            config_name = arg.split("=", 1)[1]
        elif arg in flags_with_value:
            skip = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    return overrides, config_name


def _is_hydra(override: Override) -> bool:
    key = override.key_or_group
    return key == "hydra" or key.startswith(("hydra.", "hydra/")) or override.package is not None


@contextmanager
def _hydra(config_dir: str | Path) -> Iterator[dict[str, list[str]]]:
    """Hydra initialised on `config_dir`, yielding each config group's options (Hydra's own groups left out)."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            yield {g: sorted(loader.get_group_options(g)) for g in _groups(loader, "") if g != "hydra"}
    finally:
        GlobalHydra.instance().clear()


def _groups(loader: Any, parent: str) -> Iterator[str]:
    for name in loader.list_groups(parent):
        group = f"{parent}/{name}" if parent else name
        if not group.startswith("hydra"):
            yield group
            yield from _groups(loader, group)


def _check_options(override: Override, options: list[str]) -> None:
    """Every option a group override names (each value of a sweep) is a file of `conf/<group>/`."""
    group = override.key_or_group
    values = list(override.sweep_string_iterator()) if override.is_choice_sweep() else [override.value()]
    for value in values:
        if not isinstance(value, str) or value in options:
            continue
        near = difflib.get_close_matches(value, options, n=1)
        hint = f"did you mean {group}={near[0]}? ({group} options: " if near else f"{group} options: "
        raise UserError(f"{override.input_line}: conf/{group}/ has no {value}.yaml; "
                        f"{hint}{', '.join(options)}{')' if near else ''}")


def _first_choice(override: Override) -> str:
    """The override as one value: a sweep's first choice (every choice was checked to exist)."""
    if override.is_choice_sweep():
        return f"{override.get_key_element()}={next(iter(override.sweep_string_iterator()))}"
    return override.input_line


def _check_key(override: Override, config: dict, groups: dict[str, list[str]],
               added: set[tuple[str, ...]]) -> None:
    """A `key=value` (or `~key`) names a key of the config; a `+key=value` does not add a near-copy of one."""
    path = override.key_or_group.split(".")
    node: Any = config
    for depth, key in enumerate(path):
        if not isinstance(node, dict):
            return  # inside a value (null, a list, a string): Hydra checks it
        if key not in node:
            if override.is_add():
                _refuse_near_copy(override, path, depth, node, config, added)
            elif tuple(path[:depth + 1]) not in added:
                _no_such_key(override, path, depth, node, groups)
            return
        node = node[key]
    if override.is_add():
        raise UserError(f"{override.input_line}: {override.key_or_group} exists already; "
                        f"set it without the +: {override.input_line[1:]}")


def _no_such_key(override: Override, path: list[str], depth: int, node: dict, groups: dict) -> None:
    names = list(node) + (list(groups) if depth == 0 else [])
    near = difflib.get_close_matches(path[depth], names, n=1)
    where = ".".join(path[:depth + 1])
    if near:
        raise UserError(f"{override.input_line}: the config has no {where}; "
                        f"did you mean {_renamed(override, path, depth, near[0], groups)}?")
    holds = f"{'.'.join(path[:depth])} holds" if depth else "its top-level keys are"
    raise UserError(f"{override.input_line}: the config has no {where} ({holds} {', '.join(map(str, node))}); "
                    f"to add a new key write +{override.input_line}")


def _refuse_near_copy(override: Override, path: list[str], depth: int, node: dict, config: dict,
                      added: set[tuple[str, ...]]) -> None:
    """`+a.b=v` where the config has a key one letter from `b` beside it: almost always a typo."""
    if _is_collection(node):
        return
    parent = tuple(path[:depth])
    near = [k for k in node if isinstance(k, str) and (*parent, k) not in added and _one_edit(path[depth], k)]
    if not near:
        return
    fixed = [*path[:depth], near[0], *path[depth + 1:]]
    suggestion = _renamed(override, path, depth, near[0], {})
    if not _exists(config, fixed):
        suggestion = f"+{suggestion}"
    raise UserError(f"{override.input_line} adds {'.'.join(path[:depth + 1])} beside "
                    f"{'.'.join(fixed[:depth + 1])}; did you mean {suggestion}? (++ adds it as written)")


def _renamed(override: Override, path: list[str], depth: int, name: str, groups: dict) -> str:
    """The override with `path[depth]` replaced by `name` (a group: `name=value`), without its +."""
    value = override.get_value_string() if "=" in override.input_line else None
    if depth == 0 and name in groups and len(path) == 1:
        return f"{name}={value}"
    key = ("~" if override.is_delete() else "") + ".".join([*path[:depth], name, *path[depth + 1:]])
    return key if value is None else f"{key}={value}"


def _is_collection(node: dict) -> bool:
    """A named collection (callbacks, loggers, an empty mapping): any new name is a new entry."""
    return "_target_" not in node and all(v is None or isinstance(v, dict) for v in node.values())


def _exists(config: dict, path: list[str]) -> bool:
    node: Any = config
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _one_edit(a: str, b: str) -> bool:
    """Whether `a` and `b` (4+ letters) differ by one letter added, dropped, changed or two swapped, or by case."""
    a, b = a.lower(), b.lower()
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        return len(diff) <= 1 or swapped
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))
