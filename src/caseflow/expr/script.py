"""Scripts: a whitelisted subset of Python, interpreted, plus one-expression FEEL/UEL.

A Python script is parsed with :func:`ast.parse` (parsing only: nothing is ever
compiled or executed by CPython) and every node is checked against an allow-list and
turned into closures. What a script can reach is what it was given: its variables, a
few pure built-ins, and a fixed set of string/list/dict methods. It cannot import,
define functions or classes, read attributes (other than ContextObject members), touch
dunders, or modify containers it did not create. Loops (``while`` included) run under
the step budget of :mod:`caseflow.expr.limits`.

``run`` returns the value of the script's last statement when that statement is an
expression (like a notebook cell), else None, and every top-level name the script
assigned (loop variables included; comprehension variables are local, as in Python).
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

from caseflow.errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitExceeded,
    ExpressionSyntaxError,
)
from caseflow.expr.expression import (
    EVALUATION_ERRORS,
    attach_context,
    compile_expression,
    describe,
    reraise,
)
from caseflow.expr.limits import (
    MAX_COLLECTION_SIZE,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SOURCE_LENGTH,
    MAX_VALUE_DEPTH,
    Budget,
    check_int,
    check_int_bits,
    check_size,
    check_str,
    check_str_length,
)
from caseflow.expr.values import (
    DECIMAL,
    ContextObject,
    YearMonthDuration,
    member_allowed,
    num_add,
    num_div,
    num_mul,
    num_sub,
    to_decimal,
    type_name,
)

Expr = Callable[["Frame"], Any]
_T = TypeVar("_T")
Stmt = Callable[["Frame"], None]

_SCALARS = (type(None), bool, int, float, Decimal, str, date, datetime, time, timedelta,
            YearMonthDuration)  # fmt: skip
_PLAIN = (*_SCALARS, list, tuple, dict, range)
_KEYS = (*_SCALARS, tuple)


class Frame:
    """The state of one run: assigned names, inputs, budget, containers the script owns."""

    __slots__ = ("budget", "inputs", "locals", "owned")

    def __init__(self, inputs: Mapping[str, Any]) -> None:
        self.inputs = inputs
        self.locals: dict[str, Any] = {}
        self.budget = Budget()
        self.owned: dict[int, Any] = {}

    def own(self, obj: _T) -> _T:
        """Mark a list/dict as created by the script, so it may modify it."""
        self.owned[id(obj)] = obj
        return obj

    def check_owned(self, obj: Any) -> None:
        if id(obj) not in self.owned:
            raise ExpressionEvaluationError(
                "only lists and dicts created by the script can be modified; "
                "copy it first with list(...) or dict(...)"
            )


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _fail(message: str) -> NoReturn:
    raise ExpressionEvaluationError(message)


# --- arithmetic with limits ----------------------------------------------------------------


def _plain(*values: Any) -> None:
    for v in values:
        if not isinstance(v, _PLAIN):
            _fail(f"unsupported operand: a {type_name(v)}")


def _numeric(x: Any) -> bool:
    t = type(x)
    return t is int or t is float or t is Decimal or t is bool


def py_add(frame: Frame, a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return a + b
    _plain(a, b)
    if type(a) is str and type(b) is str:
        check_str_length(len(a) + len(b))
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        check_size(len(a) + len(b))
        return frame.own(a + b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        check_size(len(a) + len(b))
        return a + b
    if _numeric(a) and _numeric(b):
        return num_add(a, b)
    return a + b  # dates and durations; TypeError becomes an evaluation error


def py_sub(frame: Frame, a: Any, b: Any) -> Any:
    _plain(a, b)
    if _numeric(a) and _numeric(b):
        return num_sub(a, b)
    return a - b


def _repeat(frame: Frame, seq: Any, n: Any) -> Any:
    if type(n) is not int and type(n) is not bool:
        _fail("a sequence can only be repeated by an integer")
    count = max(0, int(n))
    if isinstance(seq, str):
        check_str_length(len(seq) * count)
    else:
        check_size(len(seq) * count)
    result = seq * count
    return frame.own(result) if isinstance(result, list) else result


def py_mul(frame: Frame, a: Any, b: Any) -> Any:
    _plain(a, b)
    if isinstance(a, str | list | tuple):
        return _repeat(frame, a, b)
    if isinstance(b, str | list | tuple):
        return _repeat(frame, b, a)
    if _numeric(a) and _numeric(b):
        return num_mul(int(a) if type(a) is bool else a, int(b) if type(b) is bool else b)
    return a * b


def py_div(frame: Frame, a: Any, b: Any) -> Any:
    _plain(a, b)
    if _numeric(a) and _numeric(b):
        if not b:
            _fail("division by zero")
        if type(a) is Decimal or type(b) is Decimal:
            return num_div(a, b)
        return a / b
    return a / b


def py_floordiv(frame: Frame, a: Any, b: Any) -> Any:
    _plain(a, b)
    if _numeric(a) and _numeric(b) and (type(a) is Decimal) != (type(b) is Decimal):
        a, b = to_decimal(a), to_decimal(b)
    return a // b


def py_mod(frame: Frame, a: Any, b: Any) -> Any:
    _plain(a, b)
    if isinstance(a, str):
        _fail("'%' string formatting is not supported; use f-strings")
    if _numeric(a) and _numeric(b) and (type(a) is Decimal) != (type(b) is Decimal):
        a, b = to_decimal(a), to_decimal(b)
    return a % b


def py_pow(frame: Frame, a: Any, b: Any) -> Any:
    _plain(a, b)
    if type(a) is int and type(b) is int and b >= 0:
        if abs(a) > 1:
            check_int_bits(a.bit_length() * b)
        return a**b
    if type(a) is Decimal or type(b) is Decimal:
        return DECIMAL.power(to_decimal(a), to_decimal(b))
    if not (_numeric(a) and _numeric(b)):
        _fail(f"cannot raise a {type_name(a)} to a power")
    result = float(a) ** float(b)
    if isinstance(result, complex):
        _fail("power has no real result")
    return result


def py_lshift(frame: Frame, a: Any, b: Any) -> Any:
    if type(a) is not int or type(b) is not int or b < 0:
        _fail("'<<' needs a non-negative integer shift")
    check_int_bits(a.bit_length() + b)
    return a << b


def _int_op(op: Callable[[Any, Any], Any]) -> Callable[[Frame, Any, Any], Any]:
    def apply(frame: Frame, a: Any, b: Any) -> Any:
        if type(a) not in (int, bool) or type(b) not in (int, bool):
            _fail("bitwise operators need integers")
        return op(a, b)

    return apply


_BINOPS: dict[type[ast.operator], Callable[[Frame, Any, Any], Any]] = {
    ast.Add: py_add, ast.Sub: py_sub, ast.Mult: py_mul, ast.Div: py_div,
    ast.FloorDiv: py_floordiv, ast.Mod: py_mod, ast.Pow: py_pow, ast.LShift: py_lshift,
    ast.RShift: _int_op(operator.rshift), ast.BitAnd: _int_op(operator.and_),
    ast.BitOr: _int_op(operator.or_), ast.BitXor: _int_op(operator.xor),
}  # fmt: skip


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        if type(item) is not str:
            _fail("'in <string>' needs a string on the left")
        return item in container
    if isinstance(container, list | tuple | dict | range):
        return item in container
    _fail(f"'in' needs a string, list or dict, not a {type_name(container)}")


def _compare(op: type[ast.cmpop]) -> Callable[[Any, Any], bool]:
    if op is ast.In:
        return lambda a, b: _contains(b, a)
    if op is ast.NotIn:
        return lambda a, b: not _contains(b, a)
    table: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
        ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
        ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Is: operator.is_, ast.IsNot: operator.is_not,
    }  # fmt: skip
    fn = table[op]
    if op in (ast.Eq, ast.NotEq, ast.Is, ast.IsNot):
        return lambda a, b: bool(fn(a, b))

    def order(a: Any, b: Any) -> bool:
        _plain(a, b)
        return bool(fn(a, b))

    return order


# --- built-ins and methods -----------------------------------------------------------------


def _sized(frame: Frame, x: Any) -> Any:
    if not isinstance(x, str | list | tuple | dict | range):
        _fail(f"expected a string, list, dict or range, not a {type_name(x)}")
    frame.budget.charge(len(x) // 100)
    return x


def _iter_arg(frame: Frame, args: tuple[Any, ...]) -> Any:
    if len(args) == 1:
        return _sized(frame, args[0])
    return args


def b_len(frame: Frame, x: Any) -> int:
    return len(_sized(frame, x))


def b_min(frame: Frame, *args: Any) -> Any:
    items = _iter_arg(frame, args)
    _plain(*items)
    return min(items)


def b_max(frame: Frame, *args: Any) -> Any:
    items = _iter_arg(frame, args)
    _plain(*items)
    return max(items)


def b_sum(frame: Frame, items: Any, start: Any = 0) -> Any:
    total = start
    for x in _sized(frame, items):
        total = py_add(frame, total, x)
    return total


def b_abs(frame: Frame, x: Any) -> Any:
    if not _numeric(x) and type(x) is not timedelta:
        _fail(f"abs() needs a number, not a {type_name(x)}")
    return abs(x)


def b_round(frame: Frame, x: Any, ndigits: Any = None) -> Any:
    if not _numeric(x):
        _fail(f"round() needs a number, not a {type_name(x)}")
    if ndigits is None:
        return round(x)
    if type(ndigits) is not int or abs(ndigits) > 100:
        _fail("round() needs a small integer number of digits")
    if type(x) is Decimal:
        return x.quantize(Decimal(1).scaleb(-ndigits), context=DECIMAL)
    return round(x, ndigits)


def b_int(frame: Frame, x: Any = 0, base: Any = None) -> int:
    if base is not None:
        if type(x) is not str or type(base) is not int:
            _fail("int() with a base needs a string and an integer base")
        return check_int(int(x, base))
    if not (_numeric(x) or type(x) is str):
        _fail(f"int() needs a number or a string, not a {type_name(x)}")
    if type(x) is Decimal and x.adjusted() > 3000:
        _fail("number too large for int()")
    return check_int(int(x))


def b_float(frame: Frame, x: Any = 0.0) -> float:
    if not (_numeric(x) or type(x) is str):
        _fail(f"float() needs a number or a string, not a {type_name(x)}")
    return float(x)


def b_str(frame: Frame, x: Any = "") -> str:
    _plain(x)
    if isinstance(x, list | tuple | dict):
        check_size(len(x))
    return check_str(str(x))


def b_bool(frame: Frame, x: Any = False) -> bool:
    _plain(x)
    return bool(x)


def b_sorted(frame: Frame, items: Any, *, reverse: Any = False) -> list[Any]:
    seq = _sized(frame, items)
    _plain(*seq)
    return frame.own(sorted(seq, reverse=bool(reverse)))


def b_range(frame: Frame, *args: Any) -> range:
    if not 1 <= len(args) <= 3 or any(type(x) is not int for x in args):
        _fail("range() takes 1 to 3 integers")
    r = range(*args)
    check_size(len(r), "range")
    return r


def b_list(frame: Frame, items: Any = ()) -> list[Any]:
    return frame.own(list(_sized(frame, items)))


def b_dict(frame: Frame, items: Any = None, **kwargs: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    if items is not None:
        if isinstance(items, dict):
            out.update(items)
        else:
            for pair in _sized(frame, items):
                if not isinstance(pair, list | tuple) or len(pair) != 2:
                    _fail("dict() needs a dict or a list of pairs")
                out[pair[0]] = pair[1]
    out.update(kwargs)
    return frame.own(out)


def b_any(frame: Frame, items: Any) -> bool:
    return any(_sized(frame, items))


def b_all(frame: Frame, items: Any) -> bool:
    return all(_sized(frame, items))


def b_enumerate(frame: Frame, items: Any, start: Any = 0) -> list[tuple[int, Any]]:
    if type(start) is not int:
        _fail("enumerate() start must be an integer")
    return frame.own(list(enumerate(_sized(frame, items), start)))


def b_zip(frame: Frame, *seqs: Any) -> list[tuple[Any, ...]]:
    return frame.own(list(zip(*(_sized(frame, s) for s in seqs), strict=False)))


def b_reversed(frame: Frame, items: Any) -> list[Any]:
    return frame.own(list(reversed(_sized(frame, items))))


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": b_len, "min": b_min, "max": b_max, "sum": b_sum, "abs": b_abs, "round": b_round,
    "int": b_int, "float": b_float, "str": b_str, "bool": b_bool, "sorted": b_sorted,
    "range": b_range, "list": b_list, "dict": b_dict, "any": b_any, "all": b_all,
    "enumerate": b_enumerate, "zip": b_zip, "reversed": b_reversed,
}  # fmt: skip
_KEYWORDS_OK = {"sorted": {"reverse"}, "round": {"ndigits"}, "dict": None, "sum": {"start"}}


def _strings(frame: Frame, s: str, items: Any) -> str:
    seq = _sized(frame, items)
    if not all(type(x) is str for x in seq):
        _fail("join() needs a list of strings")
    check_str_length(sum(len(x) for x in seq) + len(s) * max(0, len(seq) - 1))
    return s.join(seq)


def _replace(frame: Frame, s: str, old: Any, new: Any, count: Any = -1) -> str:
    if type(old) is not str or type(new) is not str or type(count) is not int:
        _fail("replace() needs two strings")
    n = s.count(old) if old else len(s) + 1
    if count >= 0:
        n = min(n, count)
    check_str_length(len(s) + n * (len(new) - len(old)))
    return s.replace(old, new, count)


def _pad(method: Callable[..., str]) -> Callable[..., str]:
    def pad(frame: Frame, s: str, width: Any, *fill: Any) -> str:
        if type(width) is not int:
            _fail("width must be an integer")
        check_str_length(width)
        return method(s, width, *fill)

    return pad


def _split(method: Callable[..., list[str]]) -> Callable[..., list[str]]:
    def split(frame: Frame, s: str, *args: Any) -> list[str]:
        parts = method(s, *args)
        check_size(len(parts))
        return frame.own(parts)

    return split


def _pure(method: Callable[..., Any]) -> Callable[..., Any]:
    return lambda frame, target, *args: method(target, *args)


def _mutating(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(frame: Frame, target: Any, *args: Any) -> Any:
        frame.check_owned(target)
        return method(target, *args)

    return call


def _growing(method: Callable[..., Any], extra: Callable[..., int]) -> Callable[..., Any]:
    def call(frame: Frame, target: Any, *args: Any) -> Any:
        frame.check_owned(target)
        check_size(len(target) + extra(*args))
        return method(target, *args)

    return call


def _sort(frame: Frame, target: list[Any], *, reverse: Any = False) -> None:
    frame.check_owned(target)
    _plain(*target)
    target.sort(reverse=bool(reverse))


def _copy(frame: Frame, target: Any) -> Any:
    return frame.own(target.copy())


def _view(method: Callable[..., Any]) -> Callable[..., Any]:
    return lambda frame, target: frame.own(list(method(target)))


STR_METHODS: dict[str, Callable[..., Any]] = {
    name: _pure(getattr(str, name))
    for name in (
        "upper", "lower", "strip", "lstrip", "rstrip", "startswith", "endswith", "find",
        "rfind", "count", "title", "capitalize", "casefold", "isdigit", "isalpha",
        "isalnum", "isspace", "isupper", "islower", "isnumeric", "removeprefix",
        "removesuffix",
    )
} | {
    "join": _strings, "replace": _replace, "split": _split(str.split),
    "rsplit": _split(str.rsplit), "splitlines": _split(str.splitlines),
    "zfill": _pad(str.zfill), "center": _pad(str.center), "ljust": _pad(str.ljust),
    "rjust": _pad(str.rjust),
}  # fmt: skip

LIST_METHODS: dict[str, Callable[..., Any]] = {
    "append": _growing(list.append, lambda x: 1),
    "extend": _growing(list.extend, lambda xs: len(xs) if isinstance(xs, list | tuple) else 0),
    "insert": _growing(list.insert, lambda i, x: 1),
    "pop": _mutating(list.pop), "remove": _mutating(list.remove),
    "clear": _mutating(list.clear), "reverse": _mutating(list.reverse), "sort": _sort,
    "index": _pure(list.index), "count": _pure(list.count), "copy": _copy,
}  # fmt: skip

TUPLE_METHODS: dict[str, Callable[..., Any]] = {
    "index": _pure(tuple.index), "count": _pure(tuple.count),
}  # fmt: skip

DICT_METHODS: dict[str, Callable[..., Any]] = {
    "get": _pure(dict.get), "keys": _view(dict.keys), "values": _view(dict.values),
    "items": _view(dict.items), "copy": _copy,
    "pop": _mutating(dict.pop), "setdefault": _growing(dict.setdefault, lambda *a: 1),
    "update": _growing(dict.update, lambda m=(): len(m) if isinstance(m, dict) else 0),
    "clear": _mutating(dict.clear),
}  # fmt: skip


def call_method(
    frame: Frame, target: Any, name: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    if isinstance(target, ContextObject):
        if not member_allowed(target, name):
            _fail(f"method {name!r} is not available on this object")
        fn = getattr(target, name)
        if not callable(fn):
            _fail(f"{name!r} is not a method")
        return fn(*args, **kwargs)
    if isinstance(target, str):
        table = STR_METHODS
    elif isinstance(target, list):
        table = LIST_METHODS
    elif isinstance(target, dict):
        table = DICT_METHODS
    elif isinstance(target, tuple):
        table = TUPLE_METHODS
    else:
        _fail(f"a {type_name(target)} has no method {name!r}")
    impl = table.get(name)
    if impl is None:
        _fail(f"method {name!r} of a {type_name(target)} is not available in scripts")
    if kwargs and name not in ("sort",):
        _fail(f"{name}() takes no keyword arguments here")
    return impl(frame, target, *args, **kwargs)


# --- the compiler ----------------------------------------------------------------------------

_FORMAT_SPEC = re.compile(r"[<>^=]?[+\- ]?#?0?(\d{1,3})?[,_]?(\.\d{1,2})?[bcdeEfFgGnosxX%]?")


class PyCompiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.loop_depth = 0
        self.comprehension_names: list[set[str]] = []
        self.assigned: list[str] = []

    def offset(self, node: ast.AST) -> int | None:
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        if lineno is None or col is None or lineno > len(self.lines):
            return None
        start = sum(len(line) for line in self.lines[: lineno - 1])
        prefix = self.lines[lineno - 1].encode()[:col].decode(errors="ignore")
        return start + len(prefix)

    def refuse(self, node: ast.AST, message: str) -> NoReturn:
        raise ExpressionSyntaxError(message, expression=self.source, position=self.offset(node))

    def check_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("__"):
            self.refuse(node, f"names starting with '__' are not allowed: {name!r}")

    # --- statements ------------------------------------------------------------------------

    def block(self, body: list[ast.stmt]) -> Stmt:
        stmts = [(self.offset(s), getattr(s, "lineno", 0), self.stmt(s)) for s in body]
        n = len(stmts)

        def run_block(frame: Frame) -> None:
            frame.budget.charge(n)
            for pos, line, s in stmts:
                try:
                    s(frame)
                except (_Break, _Continue):
                    raise
                except ExpressionError as e:
                    if e.position is None:
                        e.position = pos
                        e.message = f"{e.message} (line {line})"
                        e.args = (e._render(),)
                    raise
                except EVALUATION_ERRORS as e:
                    if isinstance(e, RecursionError | MemoryError):
                        raise
                    raise ExpressionEvaluationError(
                        f"{describe(e)} (line {line})", position=pos
                    ) from e

        return run_block

    def stmt(self, node: ast.stmt) -> Stmt:
        if isinstance(node, ast.Expr):
            f = self.expr(node.value)

            def expression_statement(frame: Frame) -> None:
                f(frame)

            return expression_statement
        if isinstance(node, ast.Assign):
            value = self.expr(node.value)
            stores = [self.target(t) for t in node.targets]
            if len(stores) == 1:
                store = stores[0]
                return lambda frame: store(frame, value(frame))

            def assign_many(frame: Frame) -> None:
                v = value(frame)
                for st in stores:
                    st(frame, v)

            return assign_many
        if isinstance(node, ast.AnnAssign):
            if node.value is None:
                return lambda frame: None
            value = self.expr(node.value)
            store = self.target(node.target)
            return lambda frame: store(frame, value(frame))
        if isinstance(node, ast.AugAssign):
            return self.aug_assign(node)
        if isinstance(node, ast.If):
            test = self.expr(node.test)
            body = self.block(node.body)
            orelse = self.block(node.orelse) if node.orelse else None

            def if_(frame: Frame) -> None:
                if _truth(test(frame)):
                    body(frame)
                elif orelse is not None:
                    orelse(frame)

            return if_
        if isinstance(node, ast.For):
            return self.for_(node)
        if isinstance(node, ast.While):
            return self.while_(node)
        if isinstance(node, ast.Break | ast.Continue):
            if not self.loop_depth:
                self.refuse(node, f"'{type(node).__name__.lower()}' outside a loop")
            exc = _Break if isinstance(node, ast.Break) else _Continue

            def jump(frame: Frame) -> None:
                raise exc

            return jump
        if isinstance(node, ast.Pass):
            return lambda frame: None
        what = {
            ast.Import: "import", ast.ImportFrom: "import", ast.FunctionDef: "def",
            ast.AsyncFunctionDef: "def", ast.ClassDef: "class", ast.Return: "return",
            ast.Delete: "del", ast.Global: "global", ast.Nonlocal: "nonlocal",
            ast.With: "with", ast.AsyncWith: "with", ast.Raise: "raise", ast.Try: "try",
            ast.Assert: "assert", ast.AsyncFor: "async for",
        }.get(type(node), type(node).__name__)  # fmt: skip
        self.refuse(node, f"'{what}' is not allowed in scripts")

    def _bind_top(self, name: str) -> None:
        if not self.comprehension_names and name not in self.assigned:
            self.assigned.append(name)

    def target(self, node: ast.expr) -> Callable[[Frame, Any], None]:
        if isinstance(node, ast.Name):
            name = node.id
            self.check_name(node, name)
            if name in BUILTINS:
                self.refuse(node, f"cannot assign to the built-in {name!r}")
            self._bind_top(name)

            def store(frame: Frame, v: Any) -> None:
                frame.locals[name] = v

            return store
        if isinstance(node, ast.Tuple | ast.List):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                self.refuse(node, "starred assignment is not supported")
            parts = [self.target(e) for e in node.elts]

            def unpack(frame: Frame, v: Any) -> None:
                if not isinstance(v, list | tuple | str | range) or len(v) != len(parts):
                    _fail(f"cannot unpack a {type_name(v)} into {len(parts)} names")
                for p, x in zip(parts, v, strict=True):
                    p(frame, x)

            return unpack
        if isinstance(node, ast.Subscript):
            container = self.expr(node.value)
            if isinstance(node.slice, ast.Slice):
                self.refuse(node, "slice assignment is not supported")
            key = self.expr(node.slice)

            def set_item(frame: Frame, v: Any) -> None:
                c = container(frame)
                if not isinstance(c, list | dict):
                    _fail(f"cannot assign into a {type_name(c)}")
                frame.check_owned(c)
                k = key(frame)
                if isinstance(c, dict) and k not in c:
                    check_size(len(c) + 1)
                c[k] = v

            return set_item
        if isinstance(node, ast.Attribute):
            self.refuse(node, "assigning to attributes is not allowed")
        self.refuse(node, "unsupported assignment target")

    def aug_assign(self, node: ast.AugAssign) -> Stmt:
        op = _BINOPS.get(type(node.op))
        if op is None:
            self.refuse(node, f"operator {type(node.op).__name__} is not supported")
        value = self.expr(node.value)
        if isinstance(node.target, ast.Name):
            load = self.expr(ast.copy_location(ast.Name(node.target.id, ast.Load()), node.target))
            store = self.target(node.target)
            return lambda frame: store(frame, op(frame, load(frame), value(frame)))
        if isinstance(node.target, ast.Subscript):
            container = self.expr(node.target.value)
            if isinstance(node.target.slice, ast.Slice):
                self.refuse(node, "slice assignment is not supported")
            key = self.expr(node.target.slice)

            def aug_item(frame: Frame) -> None:
                c = container(frame)
                k = key(frame)
                if not isinstance(c, list | dict):
                    _fail(f"cannot assign into a {type_name(c)}")
                frame.check_owned(c)
                c[k] = op(frame, c[k], value(frame))

            return aug_item
        self.refuse(node, "unsupported assignment target")

    def for_(self, node: ast.For) -> Stmt:
        iterable = self.expr(node.iter)
        store = self.target(node.target)
        self.loop_depth += 1
        body = self.block(node.body)
        self.loop_depth -= 1
        orelse = self.block(node.orelse) if node.orelse else None

        def for_loop(frame: Frame) -> None:
            items = iterable(frame)
            if not isinstance(items, list | tuple | str | dict | range):
                _fail(f"cannot loop over a {type_name(items)}")
            budget = frame.budget
            for x in list(items) if isinstance(items, list | dict) else items:
                budget.charge()
                store(frame, x)
                try:
                    body(frame)
                except _Break:
                    return
                except _Continue:
                    continue
            if orelse is not None:
                orelse(frame)

        return for_loop

    def while_(self, node: ast.While) -> Stmt:
        test = self.expr(node.test)
        self.loop_depth += 1
        body = self.block(node.body)
        self.loop_depth -= 1
        orelse = self.block(node.orelse) if node.orelse else None

        def while_loop(frame: Frame) -> None:
            budget = frame.budget
            while _truth(test(frame)):
                budget.charge()
                try:
                    body(frame)
                except _Break:
                    return
                except _Continue:
                    continue
            if orelse is not None:
                orelse(frame)

        return while_loop

    # --- expressions -----------------------------------------------------------------------

    def expr(self, node: ast.expr) -> Expr:
        method = getattr(self, "e_" + type(node).__name__, None)
        if method is None:
            what = {
                ast.Lambda: "lambda", ast.NamedExpr: "':='", ast.Await: "await",
                ast.Yield: "yield", ast.YieldFrom: "yield", ast.Set: "set literals",
                ast.SetComp: "set comprehensions", ast.Starred: "'*' unpacking",
            }.get(type(node), type(node).__name__)  # fmt: skip
            self.refuse(node, f"{what} is not allowed in scripts")
        result: Expr = method(node)
        return result

    def e_Constant(self, node: ast.Constant) -> Expr:
        v = node.value
        if not isinstance(v, bool | int | float | str | type(None)):
            self.refuse(node, f"{type(v).__name__} literals are not supported")
        if type(v) is int:
            check_int(v)
        return lambda frame: v

    def e_Name(self, node: ast.Name) -> Expr:
        name = node.id
        self.check_name(node, name)
        if name in BUILTINS:
            self.refuse(node, f"the built-in {name!r} can only be called")

        def load(frame: Frame) -> Any:
            try:
                return frame.locals[name]
            except KeyError:
                pass
            try:
                return frame.inputs[name]
            except KeyError:
                raise ExpressionEvaluationError(f"unknown variable {name!r}") from None

        return load

    def e_BinOp(self, node: ast.BinOp) -> Expr:
        op = _BINOPS.get(type(node.op))
        if op is None:
            self.refuse(node, f"operator {type(node.op).__name__} is not supported")
        left, right = self.expr(node.left), self.expr(node.right)
        return lambda frame: op(frame, left(frame), right(frame))

    def e_UnaryOp(self, node: ast.UnaryOp) -> Expr:
        f = self.expr(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda frame: not _truth(f(frame))

        def unary(frame: Frame) -> Any:
            v = f(frame)
            duration = type(v) is timedelta and not isinstance(node.op, ast.Invert)
            if not _numeric(v) and not duration:
                _fail(f"bad operand for unary operator: a {type_name(v)}")
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return +v
            if type(v) not in (int, bool):
                _fail("'~' needs an integer")
            return ~v

        return unary

    def e_BoolOp(self, node: ast.BoolOp) -> Expr:
        fns = [self.expr(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)

        def boolop(frame: Frame) -> Any:
            v: Any = None
            for f in fns:
                v = f(frame)
                if _truth(v) is not is_and:
                    return v
            return v

        return boolop

    def e_Compare(self, node: ast.Compare) -> Expr:
        left = self.expr(node.left)
        ops = [_compare(type(o)) for o in node.ops]
        rights = [self.expr(c) for c in node.comparators]

        def compare(frame: Frame) -> bool:
            a = left(frame)
            for op, rf in zip(ops, rights, strict=True):
                b = rf(frame)
                if not op(a, b):
                    return False
                a = b
            return True

        return compare

    def e_IfExp(self, node: ast.IfExp) -> Expr:
        t, b, o = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
        return lambda frame: b(frame) if _truth(t(frame)) else o(frame)

    def e_List(self, node: ast.List) -> Expr:
        fns = self._elements(node.elts)
        return lambda frame: frame.own([f(frame) for f in fns])

    def e_Tuple(self, node: ast.Tuple) -> Expr:
        fns = self._elements(node.elts)
        return lambda frame: tuple(f(frame) for f in fns)

    def _elements(self, elts: list[ast.expr]) -> list[Expr]:
        for e in elts:
            if isinstance(e, ast.Starred):
                self.refuse(e, "'*' unpacking is not allowed in scripts")
        return [self.expr(e) for e in elts]

    def e_Dict(self, node: ast.Dict) -> Expr:
        if any(k is None for k in node.keys):
            self.refuse(node, "'**' unpacking is not allowed in scripts")
        pairs = [
            (self.expr(k), self.expr(v))
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        ]

        def make(frame: Frame) -> dict[Any, Any]:
            out = {}
            for kf, vf in pairs:
                k = kf(frame)
                _hashable(k)
                out[k] = vf(frame)
            return frame.own(out)

        return make

    def e_Subscript(self, node: ast.Subscript) -> Expr:
        target = self.expr(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self.expr(p)
                     for p in (node.slice.lower, node.slice.upper, node.slice.step)]  # fmt: skip

            def slice_(frame: Frame) -> Any:
                t = target(frame)
                if not isinstance(t, str | list | tuple | range):
                    _fail(f"cannot slice a {type_name(t)}")
                bounds = [None if p is None else p(frame) for p in parts]
                if any(b is not None and type(b) is not int for b in bounds):
                    _fail("slice bounds must be integers")
                result = t[slice(*bounds)]
                return frame.own(result) if isinstance(result, list) else result

            return slice_
        key = self.expr(node.slice)

        def subscript(frame: Frame) -> Any:
            t = target(frame)
            k = key(frame)
            if isinstance(t, dict):
                try:
                    return t[k]
                except KeyError:
                    _fail(f"key {k!r} not found")
                except TypeError:
                    _fail(f"a {type_name(k)} cannot be a dict key")
            if isinstance(t, list | tuple | str | range):
                if type(k) is not int:
                    _fail("indices must be integers")
                try:
                    return t[k]
                except IndexError:
                    _fail(f"index {k} is out of range")
            if isinstance(t, ContextObject) and type(k) is str:
                return _member(t, k)
            _fail(f"cannot index a {type_name(t)}")

        return subscript

    def e_Attribute(self, node: ast.Attribute) -> Expr:
        name = node.attr
        if name.startswith("_"):
            self.refuse(node, f"access to {name!r} is not allowed")
        target = self.expr(node.value)

        def attribute(frame: Frame) -> Any:
            t = target(frame)
            if isinstance(t, ContextObject):
                return _member(t, name)
            _fail(f"attribute access is not allowed (.{name} on a {type_name(t)}); "
                  "only method calls on strings, lists and dicts")  # fmt: skip

        return attribute

    def e_Call(self, node: ast.Call) -> Expr:
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.refuse(a, "'*' arguments are not allowed in scripts")
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse(node, "'**' arguments are not allowed in scripts")
            self.check_name(node, kw.arg)
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
            self.check_name(func, name)
            fn = BUILTINS.get(name)
            if fn is None:
                self.refuse(func, f"unknown function {name!r}")
            allowed = _KEYWORDS_OK.get(name, set())
            for kw in node.keywords:
                if allowed is not None and kw.arg not in allowed:
                    self.refuse(node, f"{name}() does not take the keyword argument {kw.arg!r}")
            builtin = fn
        args = [self.expr(a) for a in node.args]
        kwargs = [(kw.arg or "", self.expr(kw.value)) for kw in node.keywords]
        if isinstance(func, ast.Name):

            def call_builtin(frame: Frame) -> Any:
                values = [a(frame) for a in args]
                kw = {k: v(frame) for k, v in kwargs}
                try:
                    return builtin(frame, *values, **kw)
                except TypeError as e:
                    if "argument" in str(e):
                        _fail(f"{name}(): wrong number or kind of arguments")
                    raise

            return call_builtin
        if isinstance(func, ast.Attribute):
            mname = func.attr
            if mname.startswith("_"):
                self.refuse(func, f"access to {mname!r} is not allowed")
            target = self.expr(func.value)

            def call_method_(frame: Frame) -> Any:
                t = target(frame)
                values = [a(frame) for a in args]
                kw = {k: v(frame) for k, v in kwargs}
                try:
                    return call_method(frame, t, mname, values, kw)
                except TypeError as e:
                    if "argument" in str(e):
                        _fail(f"{mname}(): wrong number or kind of arguments")
                    raise

            return call_method_
        self.refuse(node, "only built-in functions and methods can be called")

    def e_JoinedStr(self, node: ast.JoinedStr) -> Expr:
        parts = [self.expr(v) for v in node.values]

        def fstring(frame: Frame) -> str:
            pieces = [p(frame) for p in parts]
            check_str_length(sum(len(x) for x in pieces))
            return "".join(pieces)

        return fstring

    def e_FormattedValue(self, node: ast.FormattedValue) -> Expr:
        value = self.expr(node.value)
        spec = None if node.format_spec is None else self.expr(node.format_spec)
        conversion = node.conversion

        def formatted(frame: Frame) -> str:
            v = value(frame)
            _plain(v)
            if isinstance(v, list | tuple | dict):
                check_size(len(v))
            if conversion == ord("r"):
                v = repr(v)
            elif conversion == ord("a"):
                v = ascii(v)
            elif conversion == ord("s"):
                v = str(v)
            if spec is None:
                return check_str(v if type(v) is str else format(v))
            s = spec(frame)
            if not _FORMAT_SPEC.fullmatch(s):
                _fail(f"unsupported format specification {s!r}")
            return check_str(format(v, s))

        return formatted

    def e_ListComp(self, node: ast.ListComp) -> Expr:
        run = self.comprehension(node.generators, [node.elt])
        return lambda frame: frame.own([x[0] for x in run(frame)])

    e_GeneratorExp = e_ListComp

    def e_DictComp(self, node: ast.DictComp) -> Expr:
        run = self.comprehension(node.generators, [node.key, node.value])

        def make(frame: Frame) -> dict[Any, Any]:
            out = {}
            for k, v in run(frame):
                _hashable(k)
                out[k] = v
            return frame.own(out)

        return make

    def comprehension(
        self, generators: list[ast.comprehension], elts: list[ast.expr]
    ) -> Callable[[Frame], list[list[Any]]]:
        """All (element values) of a comprehension; its variables stay local to it."""
        names: set[str] = set()
        self.comprehension_names.append(names)
        gens = []
        for g in generators:
            if g.is_async:
                self.refuse(g.iter, "async comprehensions are not allowed")
            iterable = self.expr(g.iter)
            for n in ast.walk(g.target):
                if isinstance(n, ast.Name):
                    names.add(n.id)
            store = self.target(g.target)
            conds = [self.expr(c) for c in g.ifs]
            gens.append((iterable, store, conds))
        values = [self.expr(e) for e in elts]
        self.comprehension_names.pop()

        def run(frame: Frame) -> list[list[Any]]:
            saved = {n: frame.locals[n] for n in names if n in frame.locals}
            out: list[list[Any]] = []
            budget = frame.budget

            def level(i: int) -> None:
                if i == len(gens):
                    out.append([v(frame) for v in values])
                    check_size(len(out))
                    return
                iterable, store, conds = gens[i]
                items = iterable(frame)
                if not isinstance(items, list | tuple | str | dict | range):
                    _fail(f"cannot loop over a {type_name(items)}")
                for x in list(items) if isinstance(items, list | dict) else items:
                    budget.charge()
                    store(frame, x)
                    if all(_truth(c(frame)) for c in conds):
                        level(i + 1)

            try:
                level(0)
            finally:
                for n in names:
                    frame.locals.pop(n, None)
                frame.locals.update(saved)
            return out

        return run


def _truth(v: Any) -> bool:
    if v is True or v is False:
        return v
    _plain(v)
    return bool(v)


def _hashable(k: Any) -> None:
    if not isinstance(k, _KEYS):
        _fail(f"a {type_name(k)} cannot be a dict key")


def _member(target: ContextObject, name: str) -> Any:
    if not member_allowed(target, name):
        _fail(f"{name!r} is not available on this object")
    value = getattr(target, name)
    if callable(value):
        _fail(f"{name!r} is a method; call it with ()")
    return value


def check_result(value: Any) -> None:
    """Refuse values a process variable cannot hold (engine objects, ranges, cycles)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    visited = 0
    while stack:
        v, depth = stack.pop()
        visited += 1
        if visited > 10 * MAX_COLLECTION_SIZE:
            raise ExpressionLimitExceeded("a variable value is too large")
        if isinstance(v, _SCALARS):
            if type(v) is float and not math.isfinite(v):
                continue
            continue
        if isinstance(v, list | tuple | dict):
            if depth >= MAX_VALUE_DEPTH:
                raise ExpressionLimitExceeded(
                    f"a variable value is nested deeper than {MAX_VALUE_DEPTH} levels "
                    "(or contains itself)"
                )
            items = list(v.keys()) + list(v.values()) if isinstance(v, dict) else v
            stack.extend((x, depth + 1) for x in items)
            continue
        if isinstance(v, range):
            raise ExpressionEvaluationError("cannot store a range; use list(range(...))")
        raise ExpressionEvaluationError(f"cannot store a {type_name(v)} in a variable")


class PythonProgram:
    """A compiled Python-subset script."""

    def __init__(self, source: str) -> None:
        if len(source) > MAX_SOURCE_LENGTH:
            raise ExpressionLimitExceeded(
                f"script of {len(source)} characters exceeds the limit of {MAX_SOURCE_LENGTH}",
                expression=source,
            )
        tree = _parse_python(source)
        _measure(tree, source)
        c = PyCompiler(source)
        body = tree.body
        last = body[-1] if body and isinstance(body[-1], ast.Expr) else None
        if last is not None:
            body = body[:-1]
        self._body = c.block(body)
        self._last_expr = None if last is None else c.expr(last.value)
        self._last_pos = None if last is None else c.offset(last)
        self._last_line = 0 if last is None else last.lineno
        self.assigned = tuple(c.assigned)

    def run(self, variables: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        frame = Frame(variables)
        self._body(frame)
        result = None
        if self._last_expr is not None:
            frame.budget.charge()
            try:
                result = self._last_expr(frame)
            except ExpressionError as e:
                if e.position is None:
                    e.position = self._last_pos
                    e.message = f"{e.message} (line {self._last_line})"
                    e.args = (e._render(),)
                raise
            except EVALUATION_ERRORS as e:
                if isinstance(e, RecursionError | MemoryError):
                    raise
                raise ExpressionEvaluationError(
                    f"{describe(e)} (line {self._last_line})", position=self._last_pos
                ) from e
        out = {n: frame.locals[n] for n in self.assigned if n in frame.locals}
        check_result(result)
        for v in out.values():
            check_result(v)
        return result, out


def _parse_python(source: str) -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source, mode="exec")
    except SyntaxError as e:
        pos = None
        if e.lineno is not None and e.offset is not None:
            lines = source.splitlines(keepends=True)
            pos = sum(len(line) for line in lines[: e.lineno - 1]) + max(e.offset - 1, 0)
        raise ExpressionSyntaxError(
            f"invalid Python: {e.msg}", expression=source, position=pos
        ) from None
    except (RecursionError, MemoryError):
        raise ExpressionLimitExceeded("script nested too deeply", expression=source) from None
    except ValueError as e:  # e.g. NUL bytes
        raise ExpressionSyntaxError(f"invalid Python: {e}", expression=source) from None


def _measure(tree: ast.AST, source: str) -> None:
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            what = f"nested deeper than {MAX_DEPTH} levels" if depth > MAX_DEPTH else (
                f"has more than {MAX_NODES} parts")  # fmt: skip
            raise ExpressionLimitExceeded(f"script {what}", expression=source)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


# --- the public Script ---------------------------------------------------------------------

_FORMATS = {"python": "python", "py": "python", "feel": "feel", "juel": "juel", "uel": "juel"}


class Script:
    """A compiled script: immutable, safe to share across threads."""

    __slots__ = ("_run", "element_id", "script_format", "source")

    source: str
    script_format: str  # normalised: "python", "feel" or "juel"
    element_id: str | None
    _run: Callable[[Mapping[str, Any]], tuple[Any, dict[str, Any]]]

    def __init__(
        self,
        source: str,
        script_format: str,
        element_id: str | None,
        run: Callable[[Mapping[str, Any]], tuple[Any, dict[str, Any]]],
    ) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "script_format", script_format)
        object.__setattr__(self, "element_id", element_id)
        object.__setattr__(self, "_run", run)

    def run(self, variables: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """(value of the last expression statement or None, {assigned name: value})."""
        try:
            return self._run(variables)
        except (ExpressionError, *EVALUATION_ERRORS) as e:
            reraise(e, self.source, self.element_id)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Script is immutable")

    def __repr__(self) -> str:
        return f"Script({self.source!r}, script_format={self.script_format!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Script):
            return NotImplemented
        return (self.source, self.script_format, self.element_id) == (
            other.source,
            other.script_format,
            other.element_id,
        )

    def __hash__(self) -> int:
        return hash((Script, self.source, self.script_format, self.element_id))

    def __reduce__(self) -> tuple[Callable[..., Script], tuple[str, str, str | None]]:
        return (_recompile_script, (self.source, self.script_format, self.element_id))

    def __copy__(self) -> Script:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Script:
        return self


def _recompile_script(source: str, script_format: str, element_id: str | None) -> Script:
    return compile_script(source, script_format, element_id=element_id)


def compile_script(text: str, script_format: str, *, element_id: str | None = None) -> Script:
    """Compile a script task's script; unsupported formats are refused here."""
    fmt = _FORMATS.get(script_format.strip().lower()) if isinstance(script_format, str) else None
    if fmt is None:
        raise ExpressionSyntaxError(
            f"unsupported script format {script_format!r} (supported: python, feel, juel)",
            expression=text if isinstance(text, str) else None,
            element_id=element_id,
        )
    if not isinstance(text, str):
        raise ExpressionSyntaxError("a script must be text", element_id=element_id)
    if fmt == "python":
        try:
            program = PythonProgram(text)
        except ExpressionError as e:
            raise attach_context(e, text, element_id) from None
        return Script(text, fmt, element_id, program.run)
    expression = compile_expression(
        text.strip(), dialect="feel" if fmt == "feel" else "uel", element_id=element_id
    )

    def run_expression(variables: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        return expression.evaluate(variables), {}

    return Script(text, fmt, element_id, run_expression)
