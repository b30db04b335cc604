"""Reading operator-written YAML into pydantic models, with errors that name file and line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class DefinitionError:
    """A problem in a definition file: where it is and what is wrong."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class DefinitionErrors(Exception):
    """One or more problems in a definition file (nothing of it was loaded)."""

    def __init__(self, errors: list[DefinitionError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the YAML node a pydantic error location points to.

    Location parts that are not keys or indexes of the document (union tags, model
    names) are skipped, so the deepest node that exists is used.
    """
    line = node.start_mark.line + 1 if node is not None else 1
    for index, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line = key.start_mark.line + 1
                    # A union tag can name a scalar key of this same mapping
                    # (`performed: x` then `within`): stay here unless it is the end.
                    if not isinstance(value, yaml.ScalarNode) or index == len(loc) - 1:
                        node = value
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


def _field(loc: tuple[int | str, ...], known: set[str]) -> str:
    parts: list[str] = []
    for index, p in enumerate(loc):
        # The last part may name a field the document lacks ("Field required").
        if index == len(loc) - 1 and isinstance(p, str) and p not in known:
            parts.append(p)
            continue
        # A union's tag repeats the key it was chosen by (`all.all.0`): keep one.
        if (isinstance(p, int) or p in known) and (not parts or parts[-1] != str(p)):
            parts.append(str(p))
    return ".".join(parts)


def load_yaml_model(text: str, filename: str, model: type[M]) -> M:
    """Parse YAML text and validate it as `model`.

    Args:
        text: the file's contents.
        filename: shown in errors.
        model: the pydantic model of the whole document.

    Raises:
        DefinitionErrors: with file, line and reason for each problem (bad YAML, an
            unknown field, a bad value).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise DefinitionErrors(
            [DefinitionError(filename, line, f"not valid YAML: {reason}")]
        ) from None
    if not isinstance(data, dict):
        raise DefinitionErrors([DefinitionError(filename, 1, "expected a mapping of fields")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        keys = _keys(node)
        errors = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = _field(loc, keys)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown field {str(loc[-1])!r}"
            errors.append(
                DefinitionError(
                    filename, _line_of(node, loc), f"{where}: {message}" if where else message
                )
            )
        raise DefinitionErrors(errors) from None


def _keys(node: yaml.Node | None) -> set[str]:
    """Every mapping key in the document (to tell field names from union tags)."""
    found: set[str] = set()
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    found.add(str(key.value))
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return found
