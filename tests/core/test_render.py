from __future__ import annotations

from typing import Any

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.errors import NudgeError
from app.core.render import (
    RenderContext,
    Renderer,
    RenderError,
    html_to_text,
    one_line,
)

HELLO_HTML = """<!doctype html>
<html><head><title>Welcome</title><style>p { color: red; }</style></head>
<body><p>Hi {{ person.first_name }},</p>
<p>Your plan: <b>{{ event.plan }}</b>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""

HELLO_TEXT = "Hi {{ person.first_name }},\nYour plan: {{ event.plan }}.\n"

DEFAULT_HTML = "<p>Hi {{ person.first_name | default('there') }}</p>"


def context(**attributes: Any) -> RenderContext:
    return RenderContext.build(
        person_id="p1",
        email="eve@example.com",
        attributes=attributes,
        event={"plan": "trial"},
        campaign_id="welcome",
        campaign_name="Welcome",
        unsubscribe_url="https://nudge.example.com/unsubscribe/7.abc",
    )


def renderer() -> Renderer:
    return Renderer(
        {
            "hello": (HELLO_HTML, HELLO_TEXT),
            "derived": (HELLO_HTML, None),
            "default": (DEFAULT_HTML, "Hi {{ person.first_name | default('there') }}"),
        }
    )


# -- rendering ----------------------------------------------------------------------------


def test_renders_subject_html_and_text() -> None:
    out = renderer().render("hello", "Welcome, {{ person.first_name }}", context(first_name="Eve"))
    assert out.subject == "Welcome, Eve"
    assert "<p>Hi Eve,</p>\n<p>Your plan: <b>trial</b>.</p>" in out.html
    assert '<a href="https://nudge.example.com/unsubscribe/7.abc">' in out.html
    assert out.text == "Hi Eve,\nYour plan: trial."  # Jinja drops one trailing newline


def test_context_has_person_id_email_and_campaign() -> None:
    r = Renderer(
        {"t": ("{{ person.id }} {{ person.email }} {{ campaign.id }}/{{ campaign.name }}", None)}
    )
    # `id` and `email` are the person's, whatever attributes of those names say.
    ctx = RenderContext.build(
        person_id="p1",
        email="eve@example.com",
        attributes={"id": "spoof", "email": "spoof@example.com"},
        event=None,
        campaign_id="welcome",
        campaign_name="Welcome",
        unsubscribe_url="u",
    )
    assert r.render("t", "s", ctx).html == "p1 eve@example.com welcome/Welcome"


def test_default_fills_a_missing_attribute() -> None:
    r = renderer()
    subject = "Welcome, {{ person.first_name | default('there') }}"
    missing = r.render("default", subject, context())
    assert (missing.subject, missing.html, missing.text) == (
        "Welcome, there",
        "<p>Hi there</p>",
        "Hi there",
    )
    present = r.render("default", subject, context(first_name="Eve"))
    assert (present.subject, present.html, present.text) == (
        "Welcome, Eve",
        "<p>Hi Eve</p>",
        "Hi Eve",
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ person.first_name | d('there') }}", "there"),  # Jinja's alias
        ("{{ person.address.city | default('nowhere') }}", "nowhere"),  # missing parent
        ("{{ person['address']['city'] | default('nowhere') }}", "nowhere"),
        ("{{ event.cart.items[0].sku | default('none') }}", "none"),
        ("{% if person.first_name is defined %}yes{% else %}no{% endif %}", "no"),
        ("{{ person.nickname | default(person.email) }}", "eve@example.com"),
    ],
)
def test_missing_values_with_default_or_defined(source: str, expected: str) -> None:
    assert Renderer({"t": (source, None)}).render("t", "s", context()).html == expected


def test_missing_attribute_without_default_names_template_and_line() -> None:
    with pytest.raises(RenderError) as caught:
        renderer().render("hello", "Welcome", context())
    err = caught.value
    assert (err.template, err.line) == ("hello.html.j2", 3)
    assert err.reason == "'dict object' has no attribute 'first_name'"
    assert err.message == "hello.html.j2 line 3: 'dict object' has no attribute 'first_name'"
    assert isinstance(err, NudgeError)
    assert err.code == "render_error"


def test_missing_attribute_in_the_text_template() -> None:
    r = Renderer({"t": ("<p>{{ person.first_name | default('x') }}</p>", "a\nb {{ person.age }}")})
    with pytest.raises(RenderError) as caught:
        r.render("t", "s", context())
    assert caught.value.message == "t.txt.j2 line 2: 'dict object' has no attribute 'age'"


def test_missing_attribute_in_the_subject() -> None:
    with pytest.raises(RenderError) as caught:
        renderer().render("default", "Hi {{ person.first_name }}", context())
    assert caught.value.message == "subject line 1: 'dict object' has no attribute 'first_name'"


@pytest.mark.parametrize(
    "source",
    [
        "{% if person.first_name %}x{% endif %}",  # testing a missing value
        "{{ person.address.city }}",  # following one, then printing it
        "{% for x in person.tags %}{{ x }}{% endfor %}",
        "{{ person.first_name ~ '!' }}",
    ],
)
def test_missing_values_fail_however_they_are_used(source: str) -> None:
    with pytest.raises(RenderError, match="has no attribute"):
        Renderer({"t": (source, None)}).render("t", "s", context())


def test_syntax_error_names_template_and_line() -> None:
    r = Renderer({"t": ("<p>one</p>\n<p>{% if %}</p>", None)})
    with pytest.raises(RenderError) as caught:
        r.render("t", "s", context())
    assert (caught.value.template, caught.value.line) == ("t.html.j2", 2)
    assert (
        caught.value.message
        == "t.html.j2 line 2: Expected an expression, got 'end of statement block'"
    )


def test_syntax_error_in_the_subject() -> None:
    with pytest.raises(RenderError) as caught:
        renderer().render("default", "Hi {{ person.first_name ", context())
    assert caught.value.template == "subject"
    assert caught.value.line == 1


def test_unknown_template() -> None:
    with pytest.raises(RenderError) as caught:
        renderer().render("nope", "s", context())
    assert caught.value.message == "nope.html.j2: template not found"


def test_runtime_error_names_the_line() -> None:
    r = Renderer({"t": ("a\nb\n{{ 1 / 0 }}", None)})
    with pytest.raises(RenderError) as caught:
        r.render("t", "s", context())
    assert caught.value.message == "t.html.j2 line 3: ZeroDivisionError: division by zero"


def test_include_resolves_other_templates_and_names_them_in_errors() -> None:
    r = Renderer(
        {
            "main": ("<p>top</p>{% include 'footer.html.j2' %}", None),
            "footer": ("<p>Bye {{ person.first_name | default('you') }}</p>", None),
            "broken": ("{% include 'bad.html.j2' %}", None),
            "bad": ("\n{{ person.x }}", None),
        }
    )
    assert r.render("main", "s", context()).html == "<p>top</p><p>Bye you</p>"
    with pytest.raises(RenderError) as caught:
        r.render("broken", "s", context())
    assert (caught.value.template, caught.value.line) == ("bad.html.j2", 2)


def test_check_reports_every_broken_template() -> None:
    r = Renderer({"ok": ("fine", "fine"), "bad": ("{% for %}", None), "badtext": ("x", "{{")})
    errors = r.check(["{{ person.first_name", "fine"])
    assert [(e.template, e.line) for e in errors] == [
        ("bad.html.j2", 1),
        ("badtext.txt.j2", 1),
        ("subject", 1),
    ]


def test_templates_are_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str | None] = []
    original = ImmutableSandboxedEnvironment.compile

    def counting(
        self: ImmutableSandboxedEnvironment, source: Any, name: Any = None, *a: Any, **k: Any
    ) -> Any:
        compiled.append(name)
        return original(self, source, name, *a, **k)

    monkeypatch.setattr(ImmutableSandboxedEnvironment, "compile", counting)
    r = renderer()
    for first_name in ("Eve", "Bob", "Ann"):
        r.render("hello", "Hi {{ person.first_name }}", context(first_name=first_name))
    assert sorted(compiled, key=str) == ["hello.html.j2", "hello.txt.j2", "subject"]


# -- the sandbox --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ person.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ person.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ person.items.__self__ }}",
        "{{ '{0.__class__}'.format(person) }}",
        "{{ person.update({'email': 'x@evil.example'}) }}",  # immutable sandbox
        "{{ event.cart.append(1) }}",
    ],
)
def test_sandbox_escapes_fail_safely(source: str) -> None:
    ctx = RenderContext.build(
        person_id="p1",
        email="eve@example.com",
        attributes={},
        event={"cart": []},
        campaign_id="c",
        campaign_name="C",
        unsubscribe_url="u",
    )
    r = Renderer({"t": ("<p>\n" + source + "</p>", None)})
    with pytest.raises(RenderError) as caught:
        r.render("t", "s", ctx)
    assert caught.value.line == 2
    assert "unsafe" in caught.value.reason
    assert "<class" not in caught.value.message
    assert ctx.person["email"] == "eve@example.com"
    assert ctx.event["cart"] == []


def test_sandbox_escape_in_the_subject() -> None:
    with pytest.raises(RenderError, match=r"^subject line 1: access to attribute '__class__'"):
        renderer().render("default", "{{ ''.__class__.__subclasses__() }}", context())


# -- escaping and one-line subjects ---------------------------------------------------------


def test_html_part_escapes_values_text_part_and_subject_do_not() -> None:
    r = Renderer(
        {
            "t": (
                '<p title="{{ person.first_name }}">{{ person.first_name }}</p>',
                "{{ person.first_name }}",
            )
        }
    )
    out = r.render("t", "Hi {{ person.first_name }}", context(first_name='<script>"x"</script>'))
    assert out.html == (
        '<p title="&lt;script&gt;&#34;x&#34;&lt;/script&gt;">'
        "&lt;script&gt;&#34;x&#34;&lt;/script&gt;</p>"
    )
    assert out.text == '<script>"x"</script>'
    assert out.subject == 'Hi <script>"x"</script>'


def test_derived_text_of_an_escaped_value_is_the_value() -> None:
    out = renderer().render("derived", "s", context(first_name="<script>&"))
    assert out.text.startswith("Hi <script>&,\n\n")


def test_subject_is_one_line() -> None:
    out = renderer().render(
        "default",
        "Hi {{ person.first_name }}\n",
        context(first_name="Eve\r\nBcc: victim@example.com"),
    )
    assert out.subject == "Hi Eve Bcc: victim@example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\r\nb", "a b"),
        ("  a \n\n b  ", "a b"),
        ("a\rb\x0bc\x0cd\x1ce\x85f\u2028g\u2029h", "a b c d e f g h"),
        ("a\x00b\x07c\x1b", "abc"),
        ("Ève\tDupont", "Ève Dupont"),
    ],
)
def test_one_line(value: str, expected: str) -> None:
    assert one_line(value) == expected


# -- the derived text part -----------------------------------------------------------------


def test_derived_text_part() -> None:
    out = renderer().render("derived", "s", context(first_name="Eve"))
    assert out.text == (
        "Hi Eve,\n\nYour plan: trial.\n\nUnsubscribe (https://nudge.example.com/unsubscribe/7.abc)"
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One\n   two</p><p>Three</p>", "One two\n\nThree"),
        ("<p>Cheers,<br>The team</p>", "Cheers,\nThe team"),
        ("<p>Cheers,<br/>The team</p>", "Cheers,\nThe team"),
        ("<div>a</div>\n\n\n<div>b</div>", "a\n\nb"),
        ("<h1>Title</h1>Body", "Title\n\nBody"),
        ("<ul><li>One</li><li>Two</li></ul>", "- One\n- Two"),
        ('<a href="https://x.example/a">Go</a>', "Go (https://x.example/a)"),
        ('<a href="https://x.example/a">https://x.example/a</a>', "https://x.example/a"),
        ('<a href="mailto:hi@x.example">hi@x.example</a>', "hi@x.example"),
        ('<a href="https://x.example/a"></a>', "https://x.example/a"),
        ('<a href="#top">Top</a>', "Top"),
        ('<a href="https://x.example/a"><b>Bold</b> link</a>', "Bold link (https://x.example/a)"),
        ("<p>Tom &amp; Jerry &lt;3 &eacute;&#233;</p>", "Tom & Jerry <3 éé"),
        ("<head><title>T</title><style>p{}</style></head><script>x()</script>Hi", "Hi"),
        ('<img src="x.png" alt="Logo"><p>Hi</p>', "Logo\n\nHi"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("<!-- hidden --><p>Shown</p>", "Shown"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
