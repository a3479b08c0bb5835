"""Turns a syntax tree into nested Python closures, once, at compile time.

Each node becomes a function ``env -> value`` where ``env`` is the variables mapping
(or a :class:`~caseflow.expr.values.Scope` inside loops). The dialect's semantics are
chosen here, so evaluation does no dispatch on node types; common shapes (``x < 1000``,
``a && b``) get closures with an inline fast path for ints and booleans. Closures hold no
mutable state: a compiled expression is safe to share between threads.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from caseflow.errors import ExpressionEvaluationError, ExpressionSyntaxError
from caseflow.expr import ast as a
from caseflow.expr import feel_ops as feel
from caseflow.expr import uel_ops as uel
from caseflow.expr.feel_builtins import BUILTINS
from caseflow.expr.limits import Budget, check_size, check_str
from caseflow.expr.methods import call_method
from caseflow.expr.values import Scope

Fn = Callable[[Any], Any]
Test = Callable[[Any, Any], Any]  # (env, tested value) -> bool | None

_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge, "+": operator.add, "-": operator.sub,
}  # fmt: skip

_EL_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": uel.add, "-": uel.sub, "*": uel.mul, "/": uel.div, "%": uel.mod, "+=": uel.concat,
    "==": uel.eq, "!=": uel.ne, "<": uel.lt, "<=": uel.le, ">": uel.gt, ">=": uel.ge,
}  # fmt: skip

_FEEL_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": feel.add, "-": feel.sub, "*": feel.mul, "/": feel.div, "**": feel.power,
    "==": feel.eq, "!=": feel.ne, "<": feel.lt, "<=": feel.le, ">": feel.gt, ">=": feel.ge,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Compiled:
    fn: Fn
    names: frozenset[str]
    needs_scope: bool  # evaluate must pass a Scope carrying a Budget (loops present)


def compile_tree(node: a.Node, dialect: str, source: str) -> Compiled:
    c = Compiler(dialect, source)
    fn = c.compile(node)
    return Compiled(fn, frozenset(c.free), c.needs_scope)


def _el_truth(v: Any) -> bool:
    return v is True or (v is not False and uel.to_bool(v))


class Compiler:
    def __init__(self, dialect: str, source: str) -> None:
        self.feel = dialect == "feel"
        self.source = source
        self.free: set[str] = set()
        self.bound: dict[str, int] = {}
        self.needs_scope = False

    def compile(self, node: a.Node) -> Fn:
        method: Callable[[Any], Fn] = getattr(self, "c_" + type(node).__name__)
        return method(node)

    def syntax_error(self, message: str, pos: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, expression=self.source, position=pos)

    def bind(self, names: Iterable[str]) -> None:
        for n in names:
            self.bound[n] = self.bound.get(n, 0) + 1

    def unbind(self, names: Iterable[str]) -> None:
        for n in names:
            self.bound[n] -= 1
            if not self.bound[n]:
                del self.bound[n]

    # --- shared ----------------------------------------------------------------------

    def c_Literal(self, node: a.Literal) -> Fn:
        value = node.value
        return lambda env: value

    def c_Name(self, node: a.Name) -> Fn:
        name = node.name
        if name not in self.bound:
            self.free.add(name)
        if self.feel:
            return lambda env: env.get(name)
        pos = node.pos

        def lookup(env: Any) -> Any:
            try:
                return env[name]
            except KeyError:
                raise ExpressionEvaluationError(
                    f"unknown variable {name!r}", position=pos
                ) from None

        return lookup

    def c_ListLit(self, node: a.ListLit) -> Fn:
        fns = [self.compile(x) for x in node.items]
        return lambda env: [f(env) for f in fns]

    def c_Binary(self, node: a.Binary) -> Fn:
        op = node.op
        table = _FEEL_OPS if self.feel else _EL_OPS
        if op not in table:
            raise self.syntax_error(f"operator {op!r} is not supported here", node.pos)
        slow = table[op]
        lf = self.compile(node.left)
        fast = _PY_OPS.get(op)
        if fast is None:
            rf = self.compile(node.right)
            return lambda env: slow(lf(env), rf(env))
        if isinstance(node.right, a.Literal) and type(node.right.value) is int:
            c = node.right.value
            if isinstance(node.left, a.Name) and not self.feel:
                # The hot shape of process conditions: ``amount > 1000``.
                name, pos = node.left.name, node.left.pos
                if name not in self.bound:
                    self.free.add(name)

                def name_vs_int(env: Any) -> Any:
                    try:
                        x = env[name]
                    except KeyError:
                        raise ExpressionEvaluationError(
                            f"unknown variable {name!r}", position=pos
                        ) from None
                    if type(x) is int:
                        return fast(x, c)
                    return slow(x, c)

                return name_vs_int

            def expr_vs_int(env: Any) -> Any:
                x = lf(env)
                if type(x) is int:
                    return fast(x, c)
                return slow(x, c)

            return expr_vs_int
        rf = self.compile(node.right)

        def binary(env: Any) -> Any:
            x = lf(env)
            y = rf(env)
            if type(x) is int and type(y) is int:
                return fast(x, y)
            return slow(x, y)

        return binary

    def c_Logical(self, node: a.Logical) -> Fn:
        fns = [self.compile(x) for x in node.operands]
        if self.feel:
            return self._feel_logical(node.op, fns)
        if node.op == "and":
            if len(fns) == 2:
                f1, f2 = fns

                def and2(env: Any) -> bool:
                    v = f1(env)
                    if v is not True and (v is False or not uel.to_bool(v)):
                        return False
                    v = f2(env)
                    return v if v is True or v is False else uel.to_bool(v)

                return and2
            return lambda env: all(_el_truth(f(env)) for f in fns)
        if len(fns) == 2:
            g1, g2 = fns

            def or2(env: Any) -> bool:
                v = g1(env)
                if v is True or (v is not False and uel.to_bool(v)):
                    return True
                v = g2(env)
                return v if v is True or v is False else uel.to_bool(v)

            return or2
        return lambda env: any(_el_truth(f(env)) for f in fns)

    def _feel_logical(self, op: str, fns: list[Fn]) -> Fn:
        stop = op != "and"  # "and" stops at false, "or" at true

        def logical(env: Any) -> bool | None:
            result: bool | None = not stop
            for f in fns:
                v = f(env)
                if v is stop:
                    return bool(stop)
                if v is not (not stop):
                    result = None
            return result

        return logical

    def c_Unary(self, node: a.Unary) -> Fn:
        f = self.compile(node.operand)
        if node.op == "-":
            neg = feel.neg if self.feel else uel.neg
            return lambda env: neg(f(env))
        if node.op == "not":
            return lambda env: not _el_truth(f(env))
        if node.op == "empty":
            return lambda env: uel.empty(f(env))
        raise self.syntax_error(f"unknown operator {node.op!r}", node.pos)

    def c_Conditional(self, node: a.Conditional) -> Fn:
        c = self.compile(node.condition)
        t = self.compile(node.then)
        o = self.compile(node.otherwise)
        if self.feel:
            return lambda env: t(env) if c(env) is True else o(env)
        return lambda env: t(env) if _el_truth(c(env)) else o(env)

    def c_Member(self, node: a.Member) -> Fn:
        t = self.compile(node.target)
        name = node.name
        get = feel.path if self.feel else uel.member
        return lambda env: get(t(env), name)

    # --- UEL only --------------------------------------------------------------------

    def c_MethodCall(self, node: a.MethodCall) -> Fn:
        t = self.compile(node.target)
        fns = [self.compile(x) for x in node.args]
        name = node.name
        return lambda env: call_method(t(env), name, [f(env) for f in fns])

    def c_Composite(self, node: a.Composite) -> Fn:
        fns = [self.compile(x) for x in node.parts]
        return lambda env: check_str("".join([uel.to_str(f(env)) for f in fns]))

    def c_Index(self, node: a.Index) -> Fn:
        t = self.compile(node.target)
        if not self.feel:
            i = self.compile(node.index)
            return lambda env: uel.index(t(env), i(env))
        return self._filter(node, t)

    # --- FEEL only -------------------------------------------------------------------

    def _filter(self, node: a.Index, target: Fn) -> Fn:
        """``xs[3]`` (1-based index) or ``xs[item > 3]`` (filter); decided by the value."""
        index = node.index
        if isinstance(index, a.Unary) and index.op == "-" and isinstance(index.operand, a.Literal):
            index = a.Literal(index.pos, feel.neg(index.operand.value))
        if isinstance(index, a.Literal) and type(index.value) in (int, Decimal):
            n = index.value
            return lambda env: None if (v := target(env)) is None else feel.index(v, n)
        self.needs_scope = True
        self.bind(["item"])
        cond = self.compile(index)
        self.unbind(["item"])

        def select(env: Any) -> Any:
            items = target(env)
            if items is None:
                return None
            if not isinstance(items, list | tuple):
                items = [items]
            probe = cond(env)
            if type(probe) in (int, Decimal, float):
                return feel.index(items, probe)
            budget: Budget = env.budget
            out = []
            for x in items:
                budget.charge()
                local = dict(x) if isinstance(x, Mapping) else {}
                local["item"] = x
                if cond(Scope(local, env, budget)) is True:
                    out.append(x)
            return out

        return select

    def c_ContextLit(self, node: a.ContextLit) -> Fn:
        self.needs_scope = True
        entries: list[tuple[str, Fn]] = []
        keys: list[str] = []
        for key, value in node.entries:
            entries.append((key, self.compile(value)))
            self.bind([key])
            keys.append(key)
        self.unbind(keys)

        def context(env: Any) -> dict[str, Any]:
            local: dict[str, Any] = {}
            scope = Scope(local, env, env.budget)
            for k, f in entries:
                local[k] = f(scope)
            return local

        return context

    def c_Range(self, node: a.Range) -> Fn:
        lo = self.compile(node.low)
        hi = self.compile(node.high)
        lc, hc = node.low_closed, node.high_closed
        return lambda env: feel.Interval(lo(env), hi(env), lc, hc)

    def c_UnaryTest(self, node: a.UnaryTest) -> Fn:
        raise self.syntax_error(f"{node.op!r} test outside of 'in'", node.pos)

    def _test(self, node: a.Node) -> Test:
        if isinstance(node, a.UnaryTest):
            cmp = _FEEL_OPS[node.op]
            operand = self.compile(node.operand)
            return lambda env, v: cmp(v, operand(env))
        f = self.compile(node)
        return lambda env, v: _matches(v, f(env))

    def c_In(self, node: a.In) -> Fn:
        value = self.compile(node.value)
        tests = [self._test(t) for t in node.tests]
        if len(tests) == 1:
            only = tests[0]
            return lambda env: only(env, value(env)) is True

        def in_(env: Any) -> bool:
            v = value(env)
            return any(t(env, v) is True for t in tests)

        return in_

    def c_Between(self, node: a.Between) -> Fn:
        v, lo, hi = (self.compile(x) for x in (node.value, node.low, node.high))

        def between(env: Any) -> bool | None:
            x = v(env)
            return feel.and_([feel.ge(x, lo(env)), feel.le(x, hi(env))])

        return between

    def c_InstanceOf(self, node: a.InstanceOf) -> Fn:
        v = self.compile(node.value)
        t = node.type_name
        return lambda env: feel.instance_of(v(env), t)

    def _iteration(self, source: a.Node) -> Fn:
        if isinstance(source, a.Range):
            lo, hi = self.compile(source.low), self.compile(source.high)
            lc, hc = source.low_closed, source.high_closed
            return lambda env: _int_range(lo(env), hi(env), lc, hc)
        f = self.compile(source)
        return lambda env: _iterable(f(env))

    def _bindings(self, bindings: tuple[tuple[str, a.Node], ...]) -> list[tuple[str, Fn]]:
        self.needs_scope = True
        out: list[tuple[str, Fn]] = []
        for name, source in bindings:
            out.append((name, self._iteration(source)))
            self.bind([name])
        return out

    def c_For(self, node: a.For) -> Fn:
        binds = self._bindings(node.bindings)
        body = self.compile(node.body)
        self.unbind(n for n, _ in node.bindings)

        def for_(env: Any) -> list[Any] | None:
            budget: Budget = env.budget
            out: list[Any] = []
            local: dict[str, Any] = {}
            scope = Scope(local, env, budget)

            def visit() -> None:
                out.append(body(scope))
                check_size(len(out))

            return out if _product(binds, 0, local, scope, visit) else None

        return for_

    def c_Quantified(self, node: a.Quantified) -> Fn:
        binds = self._bindings(node.bindings)
        cond = self.compile(node.condition)
        self.unbind(n for n, _ in node.bindings)
        every = node.kind == "every"

        def quantified(env: Any) -> bool | None:
            budget: Budget = env.budget
            local: dict[str, Any] = {}
            scope = Scope(local, env, budget)

            def visit() -> None:
                if (cond(scope) is True) is not every:
                    raise _Stop

            try:
                if not _product(binds, 0, local, scope, visit):
                    return None
            except _Stop:
                return not every
            return every

        return quantified

    def c_Call(self, node: a.Call) -> Fn:
        b = BUILTINS.get(node.name)
        if b is None:
            raise self.syntax_error(f"unknown function {node.name!r}", node.pos)
        if node.name == "is defined":
            return self._is_defined(node)
        args: list[a.Node | None]
        if node.named:
            args = [None] * len(b.params)
            for key, value in node.named:
                idx = b.aliases.get(key, b.params.index(key) if key in b.params else -1)
                if idx < 0:
                    raise self.syntax_error(f"{node.name}() has no parameter {key!r}", value.pos)
                args[idx] = value
            missing = [b.params[i] for i in range(b.required) if args[i] is None]
            if missing:
                raise self.syntax_error(
                    f"{node.name}() is missing argument {missing[0]!r}", node.pos
                )
            while args and args[-1] is None:
                args.pop()
        else:
            args = list(node.args)
            if len(args) < b.required or (len(args) > len(b.params) and not b.varargs):
                want = (
                    f"at least {b.required}" if b.varargs
                    else str(b.required) if b.required == len(b.params)
                    else f"{b.required} to {len(b.params)}"
                )  # fmt: skip
                raise self.syntax_error(
                    f"{node.name}() takes {want} argument(s), got {len(args)}", node.pos
                )
        fns = [None if x is None else self.compile(x) for x in args]
        fn = b.fn

        def call(env: Any) -> Any:
            values = [None if f is None else f(env) for f in fns]
            try:
                return fn(*values)
            except (TypeError, ValueError, ArithmeticError, LookupError):
                return None

        return call

    def _is_defined(self, node: a.Call) -> Fn:
        if len(node.args) + len(node.named) != 1:
            raise self.syntax_error("is defined() takes 1 argument", node.pos)
        arg = node.args[0] if node.args else node.named[0][1]
        if isinstance(arg, a.Name):
            name = arg.name
            if name not in self.bound:
                self.free.add(name)
            return lambda env: name in env
        if isinstance(arg, a.Member):
            target = self.compile(arg.target)
            key = arg.name

            def defined(env: Any) -> bool:
                t = target(env)
                return key in t if isinstance(t, Mapping) else feel.path(t, key) is not None

            return defined
        f = self.compile(arg)
        return lambda env: f(env) is not None


class _Stop(Exception):
    """Ends a quantifier's iteration early."""


def _matches(value: Any, test: Any) -> bool | None:
    """One positive unary test that is an expression: interval, list or plain value."""
    if isinstance(test, feel.Interval):
        return test.contains(value)
    if isinstance(test, list | tuple):
        for t in test:
            r = t.contains(value) if isinstance(t, feel.Interval) else feel.eq(value, t)
            if r is True:
                return True
        return False
    return feel.eq(value, test)


def _int_range(lo: Any, hi: Any, lc: bool = True, hc: bool = True) -> range | None:
    low, high = feel.integral(lo), feel.integral(hi)
    if low is None or high is None:
        return None
    step = 1 if high >= low else -1
    if not lc:
        low += step
    if not hc:
        high -= step
    r = range(low, high + step, step)
    check_size(len(r), "range")
    return r


def _iterable(value: Any) -> Iterable[Any] | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | range):
        return value
    if isinstance(value, feel.Interval):
        return _int_range(value.low, value.high, value.low_closed, value.high_closed)
    return [value]


def _product(
    binds: list[tuple[str, Fn]],
    i: int,
    local: dict[str, Any],
    scope: Scope,
    visit: Callable[[], Any],
) -> bool:
    """Run ``visit`` for every combination of the bindings; False if a source is null."""
    if i == len(binds):
        visit()
        return True
    name, source = binds[i]
    items = source(scope)
    if items is None:
        return False
    for x in items:
        scope.budget.charge()
        local[name] = x
        if not _product(binds, i + 1, local, scope, visit):
            return False
    local.pop(name, None)
    return True
