"""Safe XML loading: no DTDs, no entities, no network, bounded size.

BPMN and DMN files come from users and from modelling tools, so they are untrusted
input. lxml is used with an explicitly hardened parser, and any document that carries a
document type declaration is refused *before* libxml2 sees it: a DTD is the only place
where entities can be declared, so refusing it rules out entity expansion ("billion
laughs") and external entities (``file://``, ``http://``) outright instead of relying on
the parser not to expand them. BPMN never needs a DTD.
"""

from __future__ import annotations

import re
from typing import Any, Final

from lxml import etree

from caseflow.errors import XmlError

__all__ = ["MAX_DOCUMENT_BYTES", "load_xml"]

MAX_DOCUMENT_BYTES: Final = 20 * 1024 * 1024  # 20 MiB

_UTF8_BOM = b"\xef\xbb\xbf"
_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*(["'])[^"']*\2""")


def _new_parser() -> etree.XMLParser:
    # Every option that could reach outside the document or blow it up is off.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        remove_blank_text=False,
        collect_ids=False,
        recover=False,
    )


def _describe(resource_name: str | None) -> str:
    return f" in {resource_name}" if resource_name else ""


def _to_bytes(source: bytes | str) -> bytes:
    """Normalise the input to bytes libxml2 can read, converting UTF-16/32 to UTF-8.

    A ``str`` is already decoded, so its XML declaration may not name an encoding any
    more (lxml refuses that combination); the declaration's encoding is dropped and the
    text is handed over as UTF-8.
    """
    if isinstance(source, bytes):
        head = source[:4]
        wide = None
        if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
            wide = "utf-32"
        elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
            wide = "utf-16"
        elif head == b"<\x00?\x00":
            wide = "utf-16-le"
        elif head == b"\x00<\x00?":
            wide = "utf-16-be"
        if wide is None:
            return source
        try:
            source = source.decode(wide)
        except UnicodeDecodeError as exc:
            raise XmlError(f"the document is not valid {wide.upper()}: {exc}") from None
    text = source.removeprefix("\ufeff")
    text = _XML_DECL_ENCODING.sub(r"\1", text, count=1)
    return text.encode("utf-8", errors="surrogatepass")


def _refuse_doctype(data: bytes, resource_name: str | None) -> None:
    """Refuse a DOCTYPE in the prolog (the only place XML allows one).

    The prolog is walked exactly (XML declaration, processing instructions, comments,
    white space), so a ``<!DOCTYPE`` inside a CDATA section or a comment later on is no
    false alarm.
    """
    pos = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    end = len(data)
    while pos < end:
        while pos < end and data[pos] in b" \t\r\n":
            pos += 1
        if data.startswith(b"<?", pos):
            close = data.find(b"?>", pos + 2)
            if close < 0:
                return  # malformed; the parser will say where
            pos = close + 2
        elif data.startswith(b"<!--", pos):
            close = data.find(b"-->", pos + 4)
            if close < 0:
                return
            pos = close + 3
        elif data.startswith(b"<!DOCTYPE", pos):
            line = data.count(b"\n", 0, pos) + 1
            entities = b"<!ENTITY" in data[pos : pos + 1_000_000]
            what = (
                "a DOCTYPE with entity declarations (entity expansion and external "
                "entities are never allowed)"
                if entities
                else "a DOCTYPE declaration (DTDs and entities are not allowed)"
            )
            raise XmlError(
                f"refused XML{_describe(resource_name)}: line {line} has {what}; "
                "BPMN documents must not declare a document type"
            )
        else:
            return


def load_xml(
    source: bytes | str,
    *,
    resource_name: str | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> etree._Element:
    """Parse ``source`` safely and return the root element.

    Raises :class:`~caseflow.errors.XmlError` for documents that are too large, not
    well-formed (with line and column), or that use a DTD or entities.
    """
    if not isinstance(source, bytes | str):
        raise TypeError(f"expected bytes or str, got {type(source).__name__}")
    if len(source) > max_bytes:  # cheap early exit before any copying
        raise XmlError(
            f"refused XML{_describe(resource_name)}: the document has {len(source):,} "
            f"{'bytes' if isinstance(source, bytes) else 'characters'}, more than the "
            f"limit of {max_bytes:,} bytes"
        )
    data = _to_bytes(source)
    if len(data) > max_bytes:
        raise XmlError(
            f"refused XML{_describe(resource_name)}: the document has {len(data):,} bytes, "
            f"more than the limit of {max_bytes:,} bytes"
        )
    if not data.strip():
        raise XmlError(f"not XML{_describe(resource_name)}: the document is empty")
    _refuse_doctype(data, resource_name)
    try:
        root = etree.fromstring(data, _new_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, exc.offset)
        message = (exc.msg or str(exc)).strip()
        # libxml2 appends ", line L, column C" itself; keep our own wording instead
        message = re.sub(r",\s*line \d+, column \d+$", "", message)
        # never suggest lifting the limits that protect against hostile input
        message = re.sub(r",?\s*use XML_PARSE_HUGE option", " (limit for untrusted input)", message)
        raise XmlError(
            f"malformed XML{_describe(resource_name)} at line {line}, column {column}: {message}"
        ) from None
    docinfo: Any = root.getroottree().docinfo  # DocInfo is incomplete in lxml-stubs
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlError(f"refused XML{_describe(resource_name)}: DTDs and entities are not allowed")
    return root
