r"""Recursive-descent / Pratt parser for the UEL, plain and FEEL dialects.

One tokenizer (:mod:`caseflow.expr.lexer`), one tree (:mod:`caseflow.expr.ast`), two
operator tables. Every recursion goes through :meth:`Parser.expr`, which counts depth,
so hostile nesting ends with ``ExpressionLimitExceeded`` instead of ``RecursionError``.

UEL (Camunda 7 / Flowable, JUEL-compatible) and plain
------------------------------------------------------
A UEL text is literal text with embedded ``${ expr }`` / ``#{ expr }`` blocks
(``\${`` is a literal ``${``). A text that is exactly one block yields the block's value;
anything else is a *composite* and yields a string. Plain is one ``expr``, no delimiters.
Binding strength rises downwards::

    expr        = ternary ;
    ternary     = or , [ "?" , expr , ":" , ternary ] ;
    or          = and , { ( "||" | "or" ) , and } ;
    and         = equality , { ( "&&" | "and" ) , equality } ;
    equality    = relational , { ( "==" | "!=" | "eq" | "ne" ) , relational } ;
    relational  = concat , { ( "<" | ">" | "<=" | ">=" | "lt" | "gt" | "le" | "ge" ) , concat } ;
    concat      = additive , { "+=" , additive } ;                (* EL 3.0 string concatenation *)
    additive    = multiplicative , { ( "+" | "-" ) , multiplicative } ;
    multiplicative = unary , { ( "*" | "/" | "div" | "%" | "mod" ) , unary } ;
    unary       = ( "-" | "!" | "not" | "empty" ) , unary | postfix ;
    postfix     = primary , { "." , word , [ arguments ] | "[" , expr , "]" } ;
    primary     = number | string | "true" | "false" | "null" | name
                | "(" , expr , ")" | "[" , [ expr , { "," , expr } ] , "]" ;
    arguments   = "(" , [ expr , { "," , expr } ] , ")" ;

``a.m(args)`` calls a whitelisted method (see :mod:`caseflow.expr.methods`). Strings use
``'`` or ``"``; in UEL only ``\\ \' \"`` are escapes (as in the EL spec), plain also
knows ``\n \t \r \b \f \uXXXX``. Plain refuses ``=`` (write ``==``); ``not(x)`` works
in both because ``not`` is a unary operator.

FEEL (Zeebe, DMN 1.3 subset)
----------------------------
A leading ``=`` marks FEEL in "auto" mode and is not part of the grammar::

    expr        = "if" , expr , "then" , expr , "else" , expr
                | "for" , binding , { "," , binding } , "return" , expr
                | ( "some" | "every" ) , binding , { "," , binding } , "satisfies" , expr
                | disjunction ;
    binding     = name , "in" , expr , [ ".." , expr ] ;
    disjunction = conjunction , { "or" , conjunction } ;
    conjunction = comparison , { "and" , comparison } ;
    comparison  = additive , [ ( "=" | "!=" | "<" | "<=" | ">" | ">=" ) , additive
                | "between" , additive , "and" , additive
                | "in" , tests
                | "instance" , "of" , type ] ;
    tests       = "(" , test , { "," , test } , ")" | test ;
    test        = ( "<" | "<=" | ">" | ">=" ) , additive | interval | additive ;
    additive    = multiplicative , { ( "+" | "-" ) , multiplicative } ;
    multiplicative = power , { ( "*" | "/" ) , power } ;
    power       = unary , { "**" , unary } ;
    unary       = "-" , unary | postfix ;
    postfix     = primary , { "." , key | "[" , expr , "]" } ;      (* path, filter/index *)
    primary     = number | string | "true" | "false" | "null" | interval
                | "@" , string                        (* date, time, date-time, duration *)
                | name | function , "(" , [ arguments ] , ")"
                | "(" , expr , ")" | "[" , [ expr , { "," , expr } ] , "]"
                | "{" , [ key , ":" , expr , { "," , key , ":" , expr } ] , "}" ;
    interval    = ( "[" | "(" | "]" ) , expr , ".." , expr , ( "]" | ")" ) ;
    arguments   = expr , { "," , expr } | name , ":" , expr , { "," , name , ":" , expr } ;
    key         = name | string ;

Names are words (letters, digits, ``_``). Multi-word names (``string length``,
``date and time``) are runs of words separated only by whitespace that match a known
name: :data:`MULTIWORD_FUNCTIONS` (only when followed by ``(``) plus any multi-word
variable names the caller declares. Context keys, in literals and after ``.``, may be
several words (a path name ends at the next keyword). Strings use
``"`` with ``\" \\ \n \t \r \b \f \' \uXXXX`` escapes; ``//`` and ``/* */`` are comments.
"""

from __future__ import annotations

from collections.abc import Iterable

from caseflow.errors import ExpressionLimitExceeded, ExpressionSyntaxError
from caseflow.expr import ast as a
from caseflow.expr import temporal
from caseflow.expr.feel_builtins import BUILTINS
from caseflow.expr.lexer import Dialect, Lexer, Token
from caseflow.expr.limits import MAX_DEPTH, MAX_NODES, MAX_SOURCE_LENGTH

#: FEEL built-in function names that contain spaces (recognised only before "(").
MULTIWORD_FUNCTIONS: frozenset[str] = frozenset(n for n in BUILTINS if " " in n)

_FEEL_TYPES: frozenset[str] = frozenset(
    {
        "number", "string", "boolean", "date", "time", "date and time",
        "days and time duration", "years and months duration", "list", "context",
        "Any", "Null",
    }
)  # fmt: skip

_EL_KEYWORDS = frozenset(
    {"and", "or", "not", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "empty",
     "instanceof", "true", "false", "null"}
)  # fmt: skip
_FEEL_KEYWORDS = frozenset(
    {"and", "or", "if", "then", "else", "for", "in", "return", "some", "every",
     "satisfies", "between", "instance", "of", "function", "true", "false", "null"}
)  # fmt: skip

_EL_WORD_OPS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=",
                "div": "/", "mod": "%"}  # fmt: skip

# Left binding powers. Higher binds tighter.
_EL_LBP = {
    "?": 10, "||": 20, "or": 20, "&&": 30, "and": 30,
    "==": 40, "!=": 40, "eq": 40, "ne": 40,
    "<": 50, ">": 50, "<=": 50, ">=": 50, "lt": 50, "gt": 50, "le": 50, "ge": 50,
    "+=": 55, "+": 60, "-": 60, "*": 70, "/": 70, "%": 70, "div": 70, "mod": 70,
    ".": 90, "[": 90,
}  # fmt: skip
_FEEL_LBP = {
    "or": 20, "and": 30,
    "=": 40, "!=": 40, "<": 40, "<=": 40, ">": 40, ">=": 40,
    "between": 40, "in": 40, "instance": 40,
    "+": 60, "-": 60, "*": 70, "/": 70, "**": 75, ".": 90, "[": 90,
}  # fmt: skip
_UNARY_BP = 80
_CMP = frozenset({"<", "<=", ">", ">="})


class Parser:
    def __init__(
        self,
        tokens: list[Token],
        dialect: Dialect,
        expression: str,
        *,
        multiword_names: Iterable[str] = (),
    ) -> None:
        self.toks = tokens
        self.i = 0
        self.dialect = dialect
        self.feel = dialect == "feel"
        self.expression = expression
        self.depth = 0
        self.lbp_table = _FEEL_LBP if self.feel else _EL_LBP
        self.multiword_vars = frozenset(n for n in multiword_names if " " in n)
        self.max_words = max(
            (n.count(" ") + 1 for n in (*MULTIWORD_FUNCTIONS, *self.multiword_vars)), default=1
        )

    # --- helpers ---------------------------------------------------------------------

    def error(self, message: str, pos: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, expression=self.expression, position=pos)

    def peek(self, k: int = 0) -> Token:
        j = min(self.i + k, len(self.toks) - 1)
        return self.toks[j]

    def advance(self) -> Token:
        t = self.toks[self.i]
        if t.kind != "EOF":
            self.i += 1
        return t

    def at_op(self, text: str) -> bool:
        t = self.toks[self.i]
        return t.kind == "OP" and t.text == text

    def at_word(self, text: str) -> bool:
        t = self.toks[self.i]
        return t.kind == "NAME" and t.text == text

    def unexpected(self, t: Token) -> ExpressionSyntaxError:
        if t.kind == "EOF":
            return self.error("unexpected end of expression", t.pos)
        return self.error(f"unexpected {t.text!r}", t.pos)

    def expect_op(self, text: str) -> Token:
        if not self.at_op(text):
            t = self.peek()
            if t.kind == "EOF":
                raise self.error(f"expected {text!r} but the expression ended", t.pos)
            raise self.error(f"expected {text!r} but found {t.text!r}", t.pos)
        return self.advance()

    def expect_word(self, text: str) -> Token:
        if not self.at_word(text):
            t = self.peek()
            found = "the end" if t.kind == "EOF" else repr(t.text)
            raise self.error(f"expected {text!r} but found {found}", t.pos)
        return self.advance()

    def lbp(self, t: Token) -> int:
        if t.kind == "OP" or (t.kind == "NAME" and t.text in self.lbp_table):
            if t.kind == "OP" and t.text == "=" and not self.feel:
                raise self.error("'=' is not a comparison here; use '==' for equality", t.pos)
            return self.lbp_table.get(t.text, 0)
        return 0

    # --- entry -----------------------------------------------------------------------

    def parse(self) -> a.Node:
        node = self.expr(0)
        t = self.peek()
        if t.kind != "EOF":
            raise self.unexpected(t)
        return node

    def expr(self, rbp: int) -> a.Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionLimitExceeded(
                f"expression nested deeper than {MAX_DEPTH} levels",
                expression=self.expression,
                position=self.peek().pos,
            )
        t = self.advance()
        left = self.nud_feel(t) if self.feel else self.nud_el(t)
        while rbp < self.lbp(self.peek()):
            t = self.advance()
            left = self.led_feel(t, left) if self.feel else self.led_el(t, left)
        self.depth -= 1
        return left

    # --- UEL / plain -----------------------------------------------------------------

    def nud_el(self, t: Token) -> a.Node:
        if t.kind in ("NUM", "STR"):
            return a.Literal(t.pos, t.value)
        if t.kind == "NAME":
            w = t.text
            if w in ("true", "false"):
                return a.Literal(t.pos, w == "true")
            if w == "null":
                return a.Literal(t.pos, None)
            if w == "not":
                return a.Unary(t.pos, "not", self.expr(_UNARY_BP))
            if w == "empty":
                return a.Unary(t.pos, "empty", self.expr(_UNARY_BP))
            if w in _EL_KEYWORDS:
                raise self.error(f"unexpected keyword {w!r}", t.pos)
            if self.at_op("("):
                raise self.error(f"unknown function {w!r}", t.pos)
            return a.Name(t.pos, w)
        if t.kind == "OP":
            if t.text == "-":
                return a.Unary(t.pos, "-", self.expr(_UNARY_BP))
            if t.text == "!":
                return a.Unary(t.pos, "not", self.expr(_UNARY_BP))
            if t.text == "(":
                inner = self.expr(0)
                self.expect_op(")")
                return inner
            if t.text == "[":
                return a.ListLit(t.pos, self.expr_list("]"))
        raise self.unexpected(t)

    def led_el(self, t: Token, left: a.Node) -> a.Node:
        op = t.text
        bp = _EL_LBP[op]
        if op == "?":
            then = self.expr(0)
            self.expect_op(":")
            return a.Conditional(t.pos, left, then, self.expr(bp - 1))
        if op in ("||", "or", "&&", "and"):
            kind = "or" if op in ("||", "or") else "and"
            return self.logical(kind, left, self.expr(bp))
        if op == ".":
            name_tok = self.advance()
            if name_tok.kind != "NAME":
                raise self.error("expected a property or method name after '.'", name_tok.pos)
            name = self.member_name(name_tok)
            if self.at_op("("):
                self.advance()
                return a.MethodCall(t.pos, left, name, self.expr_list(")"))
            return a.Member(t.pos, left, name)
        if op == "[":
            index = self.expr(0)
            self.expect_op("]")
            return a.Index(t.pos, left, index)
        return a.Binary(t.pos, _EL_WORD_OPS.get(op, op), left, self.expr(bp))

    def member_name(self, t: Token) -> str:
        if t.text.startswith("__"):
            raise self.error(f"access to {t.text!r} is not allowed", t.pos)
        return t.text

    def logical(self, kind: str, left: a.Node, right: a.Node) -> a.Node:
        ops: tuple[a.Node, ...]
        if isinstance(left, a.Logical) and left.op == kind:
            ops = (*left.operands, right)
            return a.Logical(left.pos, kind, ops)
        return a.Logical(left.pos, kind, (left, right))

    def expr_list(self, close: str) -> tuple[a.Node, ...]:
        items: list[a.Node] = []
        if self.at_op(close):
            self.advance()
            return ()
        while True:
            items.append(self.expr(0))
            if self.at_op(","):
                self.advance()
                continue
            self.expect_op(close)
            return tuple(items)

    # --- FEEL ------------------------------------------------------------------------

    def words_at(self, j: int, count: int) -> str | None:
        """The words of tokens j..j+count-1 joined by spaces, if adjacent words."""
        toks = self.toks
        if j + count > len(toks):
            return None
        parts = []
        for k in range(j, j + count):
            tk = toks[k]
            if tk.kind != "NAME":
                return None
            if k > j:
                gap = self.expression[toks[k - 1].end : tk.pos]
                if not gap or not gap.isspace():
                    return None
            parts.append(tk.text)
        return " ".join(parts)


    def multiword(self) -> str | None:
        """Consume the longest known multi-word name at the cursor, if any."""
        for count in range(self.max_words, 1, -1):
            name = self.words_at(self.i, count)
            if name is None:
                continue
            after = self.peek(count)
            is_call = after.kind == "OP" and after.text == "("
            if (name in MULTIWORD_FUNCTIONS and is_call) or name in self.multiword_vars:
                self.i += count
                return name
        return None

    def nud_feel(self, t: Token) -> a.Node:
        if t.kind in ("NUM", "STR"):
            return a.Literal(t.pos, t.value)
        if t.kind == "NAME":
            self.i -= 1
            long_name = self.multiword()
            if long_name is not None:
                return self.name_or_call(t, long_name)
            self.i += 1
            w = t.text
            if w in ("true", "false"):
                return a.Literal(t.pos, w == "true")
            if w == "null":
                return a.Literal(t.pos, None)
            if w == "if":
                cond = self.expr(0)
                self.expect_word("then")
                then = self.expr(0)
                self.expect_word("else")
                return a.Conditional(t.pos, cond, then, self.expr(0))
            if w == "for":
                return a.For(t.pos, self.bindings(allow_range=True), self.after_word("return"))
            if w in ("some", "every"):
                binds = self.bindings(allow_range=True)
                return a.Quantified(t.pos, w, binds, self.after_word("satisfies"))
            if w == "function":
                raise self.error("function definitions are not supported", t.pos)
            if w in _FEEL_KEYWORDS:
                raise self.error(f"unexpected keyword {w!r}", t.pos)
            return self.name_or_call(t, w)
        if t.kind == "OP":
            op = t.text
            if op == "-":
                return a.Unary(t.pos, "-", self.expr(_UNARY_BP))
            if op == "(":
                inner = self.expr(0)
                if self.at_op(".."):
                    return self.interval_rest(t, inner, low_closed=False)
                self.expect_op(")")
                return inner
            if op == "[":
                if self.at_op("]"):
                    self.advance()
                    return a.ListLit(t.pos, ())
                first = self.expr(0)
                if self.at_op(".."):
                    return self.interval_rest(t, first, low_closed=True)
                items = [first]
                while self.at_op(","):
                    self.advance()
                    items.append(self.expr(0))
                self.expect_op("]")
                return a.ListLit(t.pos, tuple(items))
            if op == "]":
                low = self.expr(0)
                if not self.at_op(".."):
                    raise self.error("expected '..' in interval", self.peek().pos)
                return self.interval_rest(t, low, low_closed=False)
            if op == "{":
                return self.context_literal(t)
            if op == "@":
                return self.temporal_literal(t)
        raise self.unexpected(t)

    def temporal_literal(self, t: Token) -> a.Node:
        """``@"2024-01-31"``, ``@"10:30:00"``, ``@"2024-01-31T10:30:00"``, ``@"P1D"``."""
        s = self.advance()
        if s.kind != "STR":
            raise self.error("expected a string after '@'", s.pos)
        text = str(s.value)
        if text.startswith(("P", "-P")):
            value: object = temporal.parse_duration(text)
        elif "T" in text:
            value = temporal.parse_datetime(text)
        elif ":" in text:
            value = temporal.parse_time(text)
        else:
            value = temporal.parse_date(text)
        if value is None:
            raise self.error(f"invalid date, time or duration {text!r}", s.pos)
        return a.Literal(t.pos, value)

    def after_word(self, word: str) -> a.Node:
        self.expect_word(word)
        return self.expr(0)

    def name_or_call(self, t: Token, name: str) -> a.Node:
        if self.at_op("("):
            self.advance()
            return self.call_args(t, name)
        return a.Name(t.pos, name)

    def call_args(self, t: Token, name: str) -> a.Node:
        args: list[a.Node] = []
        named: list[tuple[str, a.Node]] = []
        if self.at_op(")"):
            self.advance()
            return a.Call(t.pos, name, (), ())
        while True:
            key = self.named_arg_key()
            if key is not None:
                if args:
                    raise self.error("cannot mix positional and named arguments", self.peek().pos)
                named.append((key, self.expr(0)))
            else:
                if named:
                    raise self.error("cannot mix positional and named arguments", self.peek().pos)
                args.append(self.expr(0))
            if self.at_op(","):
                self.advance()
                continue
            self.expect_op(")")
            return a.Call(t.pos, name, tuple(args), tuple(named))

    def named_arg_key(self) -> str | None:
        """``start position:`` -> "start position" (consumed), else None (nothing consumed)."""
        count = 0
        while self.peek(count).kind == "NAME":
            count += 1
        if count and self.peek(count).kind == "OP" and self.peek(count).text == ":":
            name = self.words_at(self.i, count)
            if name is not None:
                self.i += count + 1
                return name
        return None

    def bindings(self, *, allow_range: bool) -> tuple[tuple[str, a.Node], ...]:
        out: list[tuple[str, a.Node]] = []
        while True:
            t = self.advance()
            if t.kind != "NAME" or t.text in _FEEL_KEYWORDS:
                raise self.error("expected a variable name", t.pos)
            self.expect_word("in")
            source = self.expr(0)
            if allow_range and self.at_op(".."):
                self.advance()
                source = a.Range(source.pos, source, self.expr(0), True, True)
            out.append((t.text, source))
            if not self.at_op(","):
                return tuple(out)
            self.advance()

    def interval_rest(self, t: Token, low: a.Node, *, low_closed: bool) -> a.Node:
        self.expect_op("..")
        high = self.expr(0)
        close = self.advance()
        if close.kind != "OP" or close.text not in ("]", ")"):
            raise self.error("expected ']' or ')' to close the interval", close.pos)
        return a.Range(t.pos, low, high, low_closed, close.text == "]")

    def context_literal(self, t: Token) -> a.Node:
        entries: list[tuple[str, a.Node]] = []
        seen: set[str] = set()
        if self.at_op("}"):
            self.advance()
            return a.ContextLit(t.pos, ())
        while True:
            k = self.peek()
            if k.kind == "STR":
                self.advance()
                key = str(k.value)
            else:
                count = 0
                while self.peek(count).kind == "NAME":
                    count += 1
                key_words = self.words_at(self.i, count) if count else None
                if key_words is None:
                    raise self.error("expected a context key (a name or a string)", k.pos)
                self.i += count
                key = key_words
            if key in seen:
                raise self.error(f"duplicate context key {key!r}", k.pos)
            seen.add(key)
            self.expect_op(":")
            entries.append((key, self.expr(0)))
            if self.at_op(","):
                self.advance()
                continue
            self.expect_op("}")
            return a.ContextLit(t.pos, tuple(entries))

    def led_feel(self, t: Token, left: a.Node) -> a.Node:
        op = t.text
        bp = _FEEL_LBP[op]
        if op in ("or", "and"):
            return self.logical(op, left, self.expr(bp))
        if op == "between":
            low = self.expr(bp)
            self.expect_word("and")
            return a.Between(t.pos, left, low, self.expr(bp))
        if op == "in":
            return a.In(t.pos, left, self.in_tests())
        if op == "instance":
            self.expect_word("of")
            for count in range(4, 0, -1):
                name = self.words_at(self.i, count)
                if name in _FEEL_TYPES:
                    self.i += count
                    return a.InstanceOf(t.pos, left, name)
            raise self.error("expected a type name after 'instance of'", self.peek().pos)
        if op == ".":
            name_tok = self.advance()
            if name_tok.kind != "NAME":
                raise self.error("expected a name after '.'", name_tok.pos)
            name = self.member_name(name_tok)
            # Context keys may have spaces (``r.end included``): take the following words
            # up to a keyword.
            while (
                self.peek().kind == "NAME"
                and self.peek().text not in _FEEL_KEYWORDS
                and self.words_at(self.i - 1, 2) is not None
            ):
                name += " " + self.member_name(self.advance())
            return a.Member(t.pos, left, name)
        if op == "[":
            index = self.expr(0)
            self.expect_op("]")
            return a.Index(t.pos, left, index)
        if op == "=":
            op = "=="
        return a.Binary(t.pos, op, left, self.expr(bp))

    def in_tests(self) -> tuple[a.Node, ...]:
        if not self.at_op("("):
            return (self.positive_test(),)
        start = self.advance()
        if self.peek().kind == "OP" and self.peek().text in _CMP:
            first = self.positive_test()
        else:
            first = self.expr(0)
            if self.at_op(".."):
                return (self.interval_rest(start, first, low_closed=False),)
        tests = [first]
        while self.at_op(","):
            self.advance()
            tests.append(self.positive_test())
        self.expect_op(")")
        return tuple(tests)

    def positive_test(self) -> a.Node:
        t = self.peek()
        if t.kind == "OP" and t.text in _CMP:
            self.advance()
            return a.UnaryTest(t.pos, t.text, self.expr(_FEEL_LBP["<"]))
        return self.expr(_FEEL_LBP["in"])


def parse(
    source: str,
    dialect: Dialect,
    *,
    start: int = 0,
    multiword_names: Iterable[str] = (),
) -> a.Node:
    """Parse ``source[start:]`` as one plain or FEEL expression (offsets stay global)."""
    check_source(source)
    tokens, _ = Lexer(source, dialect).tokenize(start)
    p = Parser(tokens, dialect, source, multiword_names=multiword_names)
    if tokens[0].kind == "EOF":
        raise p.error("empty expression", start)
    return checked(p.parse(), source)


def parse_uel(source: str) -> a.Node:
    """Parse a UEL text: literal text mixed with ``${...}`` / ``#{...}`` blocks.

    Exactly one block, possibly surrounded by whitespace, yields the block's own value;
    a text without blocks is a string literal (as in JUEL); anything else is a
    :class:`~caseflow.expr.ast.Composite` that yields a string.
    """
    check_source(source)
    parts: list[tuple[bool, a.Node]] = []  # (is literal text, node)
    text: list[str] = []
    text_start = 0
    i = 0
    n = len(source)
    lexer = Lexer(source, "uel")
    while i < n:
        c = source[i]
        if c == "\\" and source.startswith(("${", "#{"), i + 1):
            text.append(source[i + 1 : i + 3])
            i += 3
            continue
        if c in "$#" and i + 1 < n and source[i + 1] == "{":
            if text:
                parts.append((True, a.Literal(text_start, "".join(text))))
                text = []
            tokens, end = lexer.tokenize(i + 2, stop_at_brace=True)
            p = Parser(tokens, "uel", source)
            if tokens[0].kind == "EOF":
                raise p.error("empty expression block", i)
            parts.append((False, p.parse()))
            i = end + 1
            text_start = i
            continue
        text.append(c)
        i += 1
    if text:
        parts.append((True, a.Literal(text_start, "".join(text))))
    blocks = [node for is_text, node in parts if not is_text]
    literal_text = "".join(
        str(node.value) for is_text, node in parts if is_text and isinstance(node, a.Literal)
    )
    if not blocks:
        return checked(a.Literal(0, literal_text), source)
    if len(blocks) == 1 and not literal_text.strip():
        return checked(blocks[0], source)
    return checked(a.Composite(0, tuple(node for _, node in parts)), source)


def check_source(source: str) -> None:
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionLimitExceeded(
            f"expression of {len(source)} characters exceeds the limit of {MAX_SOURCE_LENGTH}",
            expression=source,
        )


def checked(node: a.Node, source: str) -> a.Node:
    depth, count = a.measure(node)
    if depth > MAX_DEPTH:
        raise ExpressionLimitExceeded(
            f"expression nested deeper than {MAX_DEPTH} levels", expression=source
        )
    if count > MAX_NODES:
        raise ExpressionLimitExceeded(
            f"expression has more than {MAX_NODES} parts", expression=source
        )
    return node
