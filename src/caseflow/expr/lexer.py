"""The hand-written tokenizer shared by the UEL, plain and FEEL dialects.

Keywords are not special here: every word is a ``NAME`` token and the parser decides,
per dialect, whether ``and`` or ``div`` is an operator. Tokens keep their offsets so
that FEEL's multi-word names (``string length``, ``date and time``) can be recognised by
the parser as runs of words separated only by whitespace, without the tokenizer having
to know which names exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from caseflow.errors import ExpressionSyntaxError
from caseflow.expr.limits import check_int_bits
from caseflow.expr.values import DECIMAL

TokenKind = Literal["NUM", "STR", "NAME", "OP", "EOF"]
Dialect = Literal["uel", "plain", "feel"]

_EL_OPS = (
    "&&", "||", "==", "!=", "<=", ">=", "+=",
    "<", ">", "!", "?", ":", "+", "-", "*", "/", "%", "(", ")", "[", "]", ".", ",", "{", "}", "=",
)  # fmt: skip
_FEEL_OPS = (
    "**", "..", "<=", ">=", "!=",
    "=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "@",
)  # fmt: skip
_VALUE_END = frozenset({")", "]", "}"})


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # the operator or word; for STR/NUM the source text
    value: object  # decoded literal (str, int, Decimal) or the word itself
    pos: int  # offset in the whole source
    end: int


class Lexer:
    """Tokenizes ``source[start:]``; stops at EOF or, if ``stop_at_brace``, at the ``}``
    closing a ``${ ... }`` (the token is not consumed)."""

    def __init__(self, source: str, dialect: Dialect, expression: str | None = None) -> None:
        self.src = source
        self.dialect = dialect
        self.expression = source if expression is None else expression
        self.ops = _FEEL_OPS if dialect == "feel" else _EL_OPS

    def error(self, message: str, pos: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, expression=self.expression, position=pos)

    def tokenize(self, start: int = 0, *, stop_at_brace: bool = False) -> tuple[list[Token], int]:
        src = self.src
        n = len(src)
        i = start
        toks: list[Token] = []
        depth = 0
        while True:
            while i < n and src[i].isspace():
                i += 1
            if i >= n:
                if stop_at_brace:
                    raise self.error("unterminated '${' or '#{': missing '}'", start - 2)
                toks.append(Token("EOF", "", None, i, i))
                return toks, i
            c = src[i]
            if self.dialect == "feel" and c == "/" and i + 1 < n and src[i + 1] in "/*":
                i = self._comment(i)
                continue
            after_value = bool(toks) and (
                toks[-1].kind in ("NAME", "NUM", "STR") or toks[-1].text in _VALUE_END
            )
            if c.isdigit() or (
                c == "." and i + 1 < n and src[i + 1].isdigit() and not after_value
            ):
                tok = self._number(i)
            elif c.isalpha() or c == "_":
                j = i + 1
                while j < n and (src[j].isalnum() or src[j] == "_"):
                    j += 1
                word = src[i:j]
                tok = Token("NAME", word, word, i, j)
            elif c == '"' or (c == "'" and self.dialect != "feel"):
                tok = self._string(i)
            else:
                for op in self.ops:
                    if src.startswith(op, i):
                        break
                else:
                    raise self.error(f"unexpected character {c!r}", i)
                if stop_at_brace:
                    if op == "{":
                        depth += 1
                    elif op == "}":
                        if depth == 0:
                            toks.append(Token("EOF", "", None, i, i))
                            return toks, i
                        depth -= 1
                tok = Token("OP", op, op, i, i + len(op))
            toks.append(tok)
            i = tok.end

    def _comment(self, i: int) -> int:
        src = self.src
        if src[i + 1] == "/":
            j = src.find("\n", i)
            return len(src) if j < 0 else j + 1
        j = src.find("*/", i + 2)
        if j < 0:
            raise self.error("unterminated comment", i)
        return j + 2

    def _number(self, i: int) -> Token:
        src = self.src
        n = len(src)
        j = i
        while j < n and src[j].isdigit():
            j += 1
        is_int = True
        if j + 1 < n and src[j] == "." and src[j + 1].isdigit():
            is_int = False
            j += 1
            while j < n and src[j].isdigit():
                j += 1
        if j < n and src[j] in "eE":
            k = j + 1
            if k < n and src[k] in "+-":
                k += 1
            if k < n and src[k].isdigit():
                is_int = False
                while k < n and src[k].isdigit():
                    k += 1
                j = k
        text = src[i:j]
        if not text.isascii():
            raise self.error(f"invalid number {text!r}", i)
        value: int | Decimal
        try:
            if is_int:
                if len(text) > 3000:
                    raise self.error("number literal too large", i)
                value = int(text)
                check_int_bits(value.bit_length())
            else:
                value = DECIMAL.create_decimal(text)
        except (ValueError, InvalidOperation, ArithmeticError):
            raise self.error(f"number literal {text!r} is out of range", i) from None
        return Token("NUM", text, value, i, j)

    def _string(self, i: int) -> Token:
        src = self.src
        n = len(src)
        quote = src[i]
        rich = self.dialect != "uel"  # UEL follows the EL spec: only \\ \' \" are escapes
        out: list[str] = []
        j = i + 1
        while j < n:
            c = src[j]
            if c == quote:
                text = "".join(out)
                return Token("STR", src[i : j + 1], text, i, j + 1)
            if c == "\\" and j + 1 < n:
                e = src[j + 1]
                if e in "\\'\"":
                    out.append(e)
                    j += 2
                    continue
                if rich:
                    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
                    if e in simple:
                        out.append(simple[e])
                        j += 2
                        continue
                    if e == "u":
                        hexd = src[j + 2 : j + 6]
                        if len(hexd) == 4 and all(h in "0123456789abcdefABCDEF" for h in hexd):
                            out.append(chr(int(hexd, 16)))
                            j += 6
                            continue
                    raise self.error(f"invalid escape '\\{e}' in string", j)
            out.append(c)
            j += 1
        raise self.error("unterminated string", i)


def tokenize(source: str, dialect: Dialect) -> list[Token]:
    return Lexer(source, dialect).tokenize()[0]


__all__ = ["Dialect", "Lexer", "Token", "TokenKind", "tokenize"]
