"""A TextArea that highlights YAML without tree-sitter (not installed here): keys,
comments, strings, numbers, booleans and Jinja `{{ }}` are found line by line with
regular expressions and fed to the TextArea's own highlight map."""

from __future__ import annotations

import re
from typing import Any

from textual.widgets import TextArea

_KEY = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w\-]*)(\s*:)(?=\s|$)")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z_][\w\-]*)(\s*:)")
_COMMENT = re.compile(r"(?:^|\s)(#.*)$")
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.\-])-?\d+(?:\.\d+)?[smhdw]?(?![\w.])")
_BOOL = re.compile(r"(?<![\w\-])(true|false|null|yes|no)(?![\w\-])")
_JINJA = re.compile(r"\{\{.*?\}\}")


def highlights_of(line: str) -> list[tuple[int, int, str]]:
    """(start, end, highlight name) spans of one line, in UTF-8 byte offsets (what the
    TextArea's highlight map takes)."""
    spans: list[tuple[int, int, str]] = []
    comment = _COMMENT.search(line)
    code_end = comment.start(1) if comment else len(line)
    code = line[:code_end]
    key = _KEY.match(code)
    if key:
        spans.append((key.start(2), key.end(2), "yaml.field"))
    for match in _INLINE_KEY.finditer(code):
        spans.append((match.start(1), match.end(1), "yaml.field"))
    strings = [(m.start(), m.end()) for m in _STRING.finditer(code)]
    spans += [(a, b, "string") for a, b in strings]

    def free(a: int, b: int) -> bool:
        return not any(s <= a < e or s < b <= e for s, e in strings)

    spans += [(m.start(), m.end(), "number") for m in _NUMBER.finditer(code) if free(*m.span())]
    spans += [(m.start(), m.end(), "boolean") for m in _BOOL.finditer(code) if free(*m.span())]
    spans += [(m.start(), m.end(), "keyword") for m in _JINJA.finditer(code)]
    if comment:
        spans.append((comment.start(1), len(line), "comment"))
    return [(_byte(line, a), _byte(line, b), name) for a, b, name in spans]


def _byte(line: str, index: int) -> int:
    return len(line[:index].encode("utf-8"))


class YamlArea(TextArea):
    """A code editor for campaign YAML: line numbers, soft tabs, highlighting."""

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(
            text, show_line_numbers=True, tab_behavior="indent", soft_wrap=False, **kwargs
        )
        self.indent_width = 2

    def _build_highlight_map(self) -> None:
        self._line_cache.clear()
        highlights = self._highlights
        highlights.clear()
        for index in range(self.document.line_count):
            spans = highlights_of(self.document.get_line(index))
            if spans:
                highlights[index].extend(spans)
