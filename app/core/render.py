"""Rendering a campaign message: subject, HTML part and text part (DESIGN.md §4 Delivery).

Templates are operator content, rendered in a Jinja2 sandbox so that a template can
never reach Python internals (`{{ ''.__class__.__subclasses__() }}` fails with a
`RenderError`, it never renders). Undefined names are errors (`StrictUndefined`): a
message with a hole in it is never sent; `| default(...)` fills a missing attribute.

Pure: the caller reads the template files and passes their sources in; nothing here
touches the file system or the clock.

```python
renderer = Renderer({"welcome_hello": (html_source, text_source_or_None)})
rendered = renderer.render("welcome_hello", "Welcome, {{ person.first_name | default('there') }}",
                           RenderContext.build(person_id="42", email="eve@example.com",
                                               attributes={"first_name": "Eve"}, event={},
                                               campaign_id="welcome", campaign_name="Welcome",
                                               unsubscribe_url="https://n.example.com/unsubscribe/7.x"))
```
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, NoReturn

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.errors import NudgeError
from app.core.template_helpers import History, date_filter

__all__ = [
    "HTML_SUFFIX",
    "History",
    "TEXT_SUFFIX",
    "RenderContext",
    "RenderError",
    "Rendered",
    "Renderer",
    "html_to_text",
    "one_line",
]

#: File name suffixes of a template's two parts (`templates/<name>.html.j2`, `.txt.j2`),
#: as `SendSpec` documents them; errors name the file the operator edits.
HTML_SUFFIX = ".html.j2"
TEXT_SUFFIX = ".txt.j2"

#: Name given to subject templates in error messages ("subject line 1: ...").
SUBJECT_NAME = "subject"

Sources = Mapping[str, tuple[str, str | None]]


class RenderError(NudgeError):
    """A template that cannot be rendered: syntax error, undefined name, sandbox violation.

    The delivery is marked failed with `message`; nothing half-rendered is ever sent.

    Attributes:
        template: the file (`welcome_hello.html.j2`) or `subject`.
        line: 1-based line in that template, or None when unknown.
        reason: what went wrong, one line (Jinja's own wording).
    """

    code = "render_error"

    def __init__(self, template: str, line: int | None, reason: str) -> None:
        self.template = template
        self.line = line
        self.reason = one_line(reason)
        where = template if line is None else f"{template} line {line}"
        super().__init__(f"{where}: {self.reason}")


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a template sees (DESIGN.md §4 Delivery).

    Attributes:
        person: the person's attributes plus `id` (external id, may be None) and `email`.
        event: the trigger event's properties (`{}` when the trigger was not an event).
        campaign: `{"id": ..., "name": ...}`.
        unsubscribe_url: this delivery's one-click unsubscribe URL.
        history: what the person has done (`history.performed(...)`); empty when None.
    """

    person: Mapping[str, Any]
    event: Mapping[str, Any]
    campaign: Mapping[str, Any]
    unsubscribe_url: str
    history: History | None = None

    @classmethod
    def build(
        cls,
        *,
        person_id: str | None,
        email: str | None,
        attributes: Mapping[str, Any],
        event: Mapping[str, Any] | None,
        campaign_id: str,
        campaign_name: str,
        unsubscribe_url: str,
    ) -> RenderContext:
        """Assemble a context; `id` and `email` win over attributes of the same name."""
        person = {**attributes, "id": person_id, "email": email}
        return cls(
            person=person,
            event=dict(event or {}),
            campaign={"id": campaign_id, "name": campaign_name},
            unsubscribe_url=unsubscribe_url,
        )

    def as_dict(self) -> dict[str, Any]:
        """The template globals: `person`, `event`, `campaign`, `unsubscribe_url`,
        `history`."""
        return {
            "person": self.person,
            "event": self.event,
            "campaign": self.campaign,
            "unsubscribe_url": self.unsubscribe_url,
            "history": self.history if self.history is not None else History(),
        }


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message.

    Attributes:
        subject: one line (no CR, LF or other line breaks), surrounding space stripped.
        html: the HTML part, values autoescaped.
        text: the plain-text part: its own template, or derived from `html`.
    """

    subject: str
    html: str
    text: str


class _Missing(StrictUndefined):
    """StrictUndefined that lets a *missing* value be followed further.

    `person.address.city | default('?')` then works when `address` is missing (as
    Liquid's `default` does in Customer.io), while printing, testing, iterating or
    comparing the missing value still fails with the first missing name. Undefined
    values produced by the sandbox (unsafe attributes) and dunder names never chain:
    they fail with their own error (SecurityError for the sandbox).
    """

    __slots__ = ()

    def _follow(self, name: Any) -> Any:
        if (
            self._undefined_exception is UndefinedError
            and isinstance(name, str | int)
            and not (isinstance(name, str) and name.startswith("_"))
        ):
            return self
        return self._fail_with_undefined_error()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            # Python protocol probes (copy, pickle, hasattr(x, "__html__")) need this.
            raise AttributeError(name)
        return self._follow(name)

    def __getitem__(self, name: Any) -> Any:
        return self._follow(name)


class _SourceLoader(BaseLoader):
    """Loads `<name>.html.j2` / `<name>.txt.j2` from the sources (for `{% include %}`)."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source = _source_of(self._sources, template)
        if source is None:
            raise TemplateNotFound(template)
        # The file name is the template name: Jinja puts it in rewritten tracebacks,
        # which is where a runtime error's template line is read from.
        return source, template, lambda: True


def _source_of(sources: Sources, filename: str) -> str | None:
    for suffix, index in ((HTML_SUFFIX, 0), (TEXT_SUFFIX, 1)):
        if filename.endswith(suffix):
            pair = sources.get(filename[: -len(suffix)])
            return None if pair is None else pair[index]
    return None


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, giving each template its globals as one plain dict."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # Jinja's default, a ChainMap of the template's globals over the environment's,
        # is walked twice per render to build the context (a third of a short render).
        # Nothing here changes globals once a template is loaded (Jinja asks as much),
        # so one merged dict holds the same names.
        return {**self.globals, **(d or {})}


def _environment(sources: Sources, *, html: bool) -> ImmutableSandboxedEnvironment:
    # Immutable: a template cannot change the context dicts the caller passed in
    # (`person.update(...)`, `list.append`) either. auto_reload off: sources never change
    # inside one Renderer (one campaign version), so Jinja skips its up-to-date checks.
    env = _Sandbox(
        loader=_SourceLoader(sources),
        undefined=_Missing,
        autoescape=html,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters["date"] = date_filter
    return env


class Renderer:
    """Renders one campaign version's messages; templates are compiled once and cached.

    Compiling costs about 60x a render (PERFORMANCE.md, Mail), so build one Renderer
    per campaign version and keep it. Two sandboxed environments: the HTML part
    autoescapes values; the text part and the subject do not (they are not HTML).
    Safe to share between threads: the caches only ever gain entries for the same key.

    Args:
        sources: `{template name: (html source, text source or None)}`, e.g.
            `{"welcome_hello": ("<p>Hi {{ person.first_name }}</p>", None)}`.
    """

    def __init__(self, sources: Sources) -> None:
        self._sources = dict(sources)
        self._html_env = _environment(self._sources, html=True)
        self._text_env = _environment(self._sources, html=False)
        self._compiled: dict[str, Template | RenderError] = {}
        self._subjects: dict[str, Template | RenderError] = {}

    @property
    def templates(self) -> list[str]:
        """The template names this renderer knows, sorted."""
        return sorted(self._sources)

    def check(self, subjects: list[str] | None = None) -> list[RenderError]:
        """Compile every template part (and the given subjects); return their errors.

        Args:
            subjects: subject templates to compile as well.

        Returns:
            One RenderError per template that does not compile, in name order.
        """
        errors: list[RenderError] = []
        for name in self.templates:
            text = self._sources[name][1]
            parts = [name + HTML_SUFFIX] + ([name + TEXT_SUFFIX] if text is not None else [])
            for filename in parts:
                compiled = self._template(filename)
                if isinstance(compiled, RenderError):
                    errors.append(compiled)
        for subject in subjects or []:
            compiled = self._subject(subject)
            if isinstance(compiled, RenderError):
                errors.append(compiled)
        return errors

    def render(self, template: str, subject: str, context: RenderContext) -> Rendered:
        """Render the subject, the HTML part and the text part of one message.

        Args:
            template: the template name (`welcome_hello`), a key of `sources`.
            subject: the subject template (`SendSpec.subject`), rendered without escaping
                and flattened to one line.
            context: what the templates see.

        Returns:
            The rendered message. Without a text template, the text part is derived
            from the HTML part (`html_to_text`).

        Raises:
            RenderError: naming the template (or `subject`), the line and the reason,
                for an unknown template, a syntax error, an undefined name or a
                sandbox violation.
        """
        if template not in self._sources:
            raise RenderError(template + HTML_SUFFIX, None, "template not found")
        variables = context.as_dict()
        subject_text = one_line(_run(self._subject(subject), variables, SUBJECT_NAME))
        html = _run(self._template(template + HTML_SUFFIX), variables, template + HTML_SUFFIX)
        if self._sources[template][1] is None:
            text = html_to_text(html)
        else:
            name = template + TEXT_SUFFIX
            text = _run(self._template(name), variables, name)
        return Rendered(subject=subject_text, html=html, text=text)

    def _template(self, filename: str) -> Template | RenderError:
        compiled = self._compiled.get(filename)
        if compiled is None:
            env = self._html_env if filename.endswith(HTML_SUFFIX) else self._text_env
            try:
                compiled = env.get_template(filename)
            except TemplateSyntaxError as exc:
                compiled = _syntax_error(exc, filename)
            except TemplateNotFound:
                compiled = RenderError(filename, None, "template not found")
            self._compiled[filename] = compiled
        return compiled

    def _subject(self, source: str) -> Template | RenderError:
        compiled = self._subjects.get(source)
        if compiled is None:
            env = self._text_env
            try:
                code = env.compile(source, SUBJECT_NAME, SUBJECT_NAME)
                compiled = env.template_class.from_code(env, code, env.make_globals(None))
            except TemplateSyntaxError as exc:
                compiled = _syntax_error(exc, SUBJECT_NAME)
            self._subjects[source] = compiled
        return compiled


def _syntax_error(exc: TemplateSyntaxError, filename: str) -> RenderError:
    # An error inside an included template names that file, not the includer.
    return RenderError(exc.filename or exc.name or filename, exc.lineno, exc.message or "syntax")


def _run(compiled: Template | RenderError, variables: dict[str, Any], filename: str) -> str:
    if isinstance(compiled, RenderError):
        raise compiled
    try:
        return compiled.render(variables)
    except TemplateSyntaxError as exc:  # an {% include %} of a broken template
        raise _syntax_error(exc, filename) from None
    except Exception as exc:  # any failure inside a template parks the delivery, never crashes
        _raise_from_runtime(exc, filename)


def _raise_from_runtime(exc: Exception, filename: str) -> NoReturn:
    if isinstance(exc, UndefinedError | SecurityError):
        reason = str(exc)
    elif isinstance(exc, TemplateNotFound):
        reason = f"template {exc.name!r} not found"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    template, line = filename, None
    # Jinja rewrites a render error's traceback so that template frames carry the template
    # file name and line: the innermost such frame is where the template failed.
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == SUBJECT_NAME or frame.filename.endswith((HTML_SUFFIX, TEXT_SUFFIX)):
            template, line = frame.filename, frame.lineno
    raise RenderError(template, line, reason) from None


# -- one-line header values --------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(value: str) -> str:
    """`value` as a single header-safe line.

    Every line break (CR, LF and the other `str.splitlines` boundaries: VT, FF, FS, GS,
    RS, NEL, U+2028, U+2029) and every run of whitespace becomes one space, other C0
    control characters are dropped, and the ends are stripped. A rendered subject or a
    display name taken from an attribute therefore never starts a new header line
    (RFC 5322 §2.2: a header field ends at CRLF).
    """
    return _CONTROL.sub("", " ".join(value.split()))


# -- deriving the text part from the HTML part -------------------------------------------

_SKIP = frozenset({"head", "script", "style", "template", "title"})
_PARAGRAPH = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "center", "dd", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hr", "html", "main", "nav", "ol", "p", "pre", "section",
        "table", "ul",
    }
)  # fmt: skip
_LINE = frozenset({"br", "tr", "li"})


class _TextExtractor(HTMLParser):
    """Collects an HTML part's readable text as lines and paragraph breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (line breaks before it, text)
        self._buffer: list[str] = []
        self._breaks = 0
        self._skipping = 0
        self._links: list[tuple[str, int]] = []  # (href, where its text starts in _buffer)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
            if tag == "li":
                self._buffer.append("- ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self._buffer)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self._skipping:
                self._buffer.append(alt)
        elif tag in ("td", "th"):
            self._buffer.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # `<br/>`, `<hr/>`, `<img/>`: a start tag without content.
        if tag not in _SKIP and tag != "a":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in ("tr", "li"):
            self._break(1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = " ".join("".join(self._buffer[start:]).split())
            if _shows_url(href, label):
                self._buffer.append(f" ({href})" if label else href)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._break(0)

    def _break(self, breaks: int) -> None:
        text = " ".join("".join(self._buffer).split())
        self._buffer = []
        # A link still open across a block boundary restarts at the new line.
        self._links = [(href, 0) for href, _ in self._links]
        if text:
            self.lines.append((self._breaks, text))
            self._breaks = breaks
        else:
            self._breaks = max(self._breaks, breaks)


def _shows_url(href: str, label: str) -> bool:
    if not href or href.startswith(("#", "javascript:")):
        return False
    return href not in (label, f"mailto:{label}")


def html_to_text(html: str) -> str:
    """A plain-text rendering of an HTML part, for the `text/plain` alternative.

    Tags are dropped (stdlib `html.parser`; entities decoded), the content of `head`,
    `title`, `style` and `script` is skipped, whitespace runs collapse to one space,
    block elements (`p`, `div`, headings, lists, tables...) become paragraph breaks (a
    blank line), `br`, `li` and `tr` line breaks, list items start with `- `, images
    give their `alt` text, and a link keeps its target as `text (url)` unless the text
    already is the URL.

    Args:
        html: a rendered HTML part.

    Returns:
        The text, without leading or trailing blank lines.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    out: list[str] = []
    for index, (breaks, text) in enumerate(parser.lines):
        if index:
            out.append("\n" * max(1, breaks))
        out.append(text)
    return "".join(out)
