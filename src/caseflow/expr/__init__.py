"""caseflow.expr: the safe expression language of caseflow.

Three dialects share one tokenizer, one syntax tree and one compiler:

* **UEL** (Camunda 7, Flowable): ``${amount > 1000 && approved}``, ``#{...}``, and
  composite text such as ``"Hello ${name}!"``;
* **FEEL** (Zeebe, DMN): ``=amount > 1000 and not(vip)``;
* **plain**: ``amount > 1000`` with the operators of both.

User text is never given to ``eval``/``exec``/``compile``: it is tokenized and parsed by
hand (:mod:`.parser` documents the grammar), compiled once into closures
(:mod:`.compiler`) and evaluated under the limits of :mod:`.limits`. Scripts
(:func:`compile_script`) are a whitelisted Python subset interpreted by :mod:`.script`,
or one FEEL/UEL expression.
"""

from __future__ import annotations

from caseflow.expr.expression import (
    Expression,
    compile_expression,
    parse_value,
)
from caseflow.expr.script import Script, compile_script
from caseflow.expr.values import ContextObject, YearMonthDuration

__all__ = [
    "ContextObject",
    "Expression",
    "Script",
    "YearMonthDuration",
    "compile_expression",
    "compile_script",
    "parse_value",
]
