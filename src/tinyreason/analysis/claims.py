"""Find the computations a chain states (`a op b = c`, `<<a*b=c>>`) and check each with the safe evaluator.

    claims("3 \\times 10 = 30 minutes, so 50 + 1440 = 1940")   # -> [3 * 10 = 30 ok, 50 + 1440 = 1940 FALSE (is 1490)]
    false_claims(text)                                           # only the false ones

What counts as a stated computation (a *claim*):
- GSM8K calculator annotations `<<48/2=24>>`;
- `lhs = rhs` on one line (after tinyreason.analysis.arith.normalize). The lhs is the run of arithmetic tokens
  right before "=" and must hold at least one binary operator; the rhs is what follows "=": its first number,
  a parenthesised group, or the whole arithmetic run (running chains "2 * 23 - 4 = 46 - 4 = 42" and
  "3 * 10 = 30 * 2 = 60" check each step).

Conservative on purpose (a true chain flagged false would be worse than a missed slip). A claim is skipped
when its lhs is cut (starts with "*" or "/", follows a variable "x + 3 = 7", a function "abs(", or an operator
word "60 students x 2/3", "12 x 1 and 1/4"), or its rhs has an unknown ("= 24/Y", "= 5A/5", "= 30 + M").
It is true if ANY reasonable reading makes it true:
- precedence or plain left-to-right (small models write running totals "10 + 20 * 3 = 90");
- a percent as a fraction, a bare number, or relative ("50 - 20% = 40"); glued fractions "25 / 1/3 = 75";
- the rhs as its first number, a fraction "3/4", a whole chain, "18 000", or converted by the unit word after
  it ("$1/2 = 50 cents": x100 for cents/percent, x60 minutes, x60/x3600 seconds, x12 inches/months, x16 ounces);
- rounding: when the true value has more decimals than the rhs shows, any rhs within one unit of its last
  shown digit passes (33.33, 33.3, 33 and 34 all pass for 100/3); otherwise equality must be exact.

Measured on GSM8K's own reference solutions (benchmarks/RESULTS_analysis.md): 0.08% of 37.5k train claims
and 2 of 6.7k test claims are flagged, and those inspected are typos in the references themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from tinyreason.analysis.arith import Tok, join_tokens, normalize, parse_tokens, tokenize

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")


@dataclass(frozen=True)
class Claim:
    """One stated computation: `expr = stated`, and whether some reasonable reading makes it true."""

    expr: str
    stated: str
    value: Fraction  # the lhs under standard precedence, percent as a fraction
    ok: bool

    def __str__(self) -> str:
        mark = "ok" if self.ok else f"FALSE (is {_show(self.value)})"
        return f"{self.expr} = {self.stated}  [{mark}]"


def _show(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{float(v):.6g}"


_ARITH = ("num", "op", "lp", "rp")
_OPERATOR_WORDS = {"x", "times", "and", "plus", "minus", "by", "of", "per", "over", "divided", "multiplied"}


def _lhs(toks: list[Tok], eq: int) -> list[Tok] | None:
    """The arithmetic run right before toks[eq], or None when it is cut or not a computation."""
    j = eq
    while j > 0 and toks[j - 1].kind in _ARITH:
        j -= 1
    boundary = toks[j - 1] if j > 0 else None
    run = toks[j:eq]
    depth, start = 0, 0
    for k, t in enumerate(run):  # "1) 3 + 4": restart after an unmatched ")"
        depth += {"lp": 1, "rp": -1}.get(t.kind, 0)
        if depth < 0:
            depth, start = 0, k + 1
    if start:
        boundary, run = run[start - 1], run[start:]
    while run and run[0].kind == "lp" and depth > 0:  # "(3 + 4 = 7)"
        run, depth = run[1:], depth - 1
    if not run:
        return None
    first = run[0]
    glued_word = boundary is not None and boundary.kind in ("word", "rp", "num", "time") and not first.space_before
    if boundary is not None and boundary.kind == "word" and boundary.text.lower() in _OPERATOR_WORDS:
        return None  # "60 students x 2/3", "12 x 1 and 1/4": the expression goes on to the left
    if first.kind == "lp" and glued_word:  # round(3.5 * 2): a function call changes the value
        return None
    if first.kind == "op":
        if first.text not in "+-" or (boundary is not None and boundary.kind in ("word", "rp", "num", "time")):
            return None  # "x + 3 = 7", "* 4 = 8": an operand is missing
        if len(run) > 1 and run[1].space_before:  # "- 3 x 10" is a bullet, not a minus sign
            run = run[1:]
    return run


_UNIT_AFTER = {"cents": (100,), "cent": (100,), "percent": (100,), "minutes": (60,), "minute": (60,), "mins": (60,),
               "seconds": (60, 3600), "inches": (12,), "months": (12,), "ounces": (16,)}  # fmt: skip


def _rhs(toks: list[Tok], eq: int) -> tuple[list[tuple[Fraction, int | None]], str] | None:
    """Candidate values of what follows "=" (value, shown decimals or None for exact) and its text;
    None when it is not a number or is an expression with an unknown ("= 24/Y", "= 30 + M")."""
    j = eq + 1
    while j < len(toks) and toks[j].kind in _ARITH:
        j += 1
    run = toks[eq + 1 : j]
    if not run or (run[-1].kind == "op" and j < len(toks) and toks[j].kind in ("word", "time")):
        return None
    sign, head_at = 1, 0
    if run[0].kind == "op" and run[0].text == "-" and len(run) > 1 and not run[1].space_before:
        sign, head_at = -1, 1
    cands: list[tuple[Fraction, int | None]] = []
    full = parse_tokens(run)
    if full is not None:  # a running chain: "2 * 23 - 4 = 46 - 4 = 42"
        cands.append((full[0], None))
    head = run[head_at] if head_at < len(run) else None
    if head is None or head.kind not in ("num", "lp"):
        return (cands, join_tokens(run)) if cands else None
    if head.kind == "lp":
        depth = 0
        for k in range(head_at, len(run)):
            depth += {"lp": 1, "rp": -1}.get(run[k].kind, 0)
            if depth == 0:
                res = parse_tokens(run[head_at : k + 1])
                if res is not None:
                    cands.append((sign * res[0], None))
                break
        return (cands, join_tokens(run)) if cands else None
    assert head.value is not None
    glued = toks[eq + 1 + head_at + 1] if eq + 2 + head_at < len(toks) else None
    if glued is not None and glued.kind == "word" and len(glued.text) == 1 and not glued.space_before:
        return None  # "= 5A / 5", "= 1.2Y": an algebra coefficient, not a value
    v = sign * head.value
    cands.append((v, head.decimals))
    if head.pct:
        cands.append((v / 100, None))
    after = run[head_at + 1] if head_at + 1 < len(run) else (toks[j] if j < len(toks) else None)
    if after is not None and after.kind == "num" and after.space_before and re.fullmatch(r"\d{3}", after.text):
        cands.append((v * 1000 + sign * (after.value or 0), None))  # "18 000 watts"
    if after is not None and after.kind == "word":
        cands += [(v / f, None) for f in _UNIT_AFTER.get(after.text.lower(), ())]  # "$1/2 = 50 cents"
    if len(run) >= head_at + 3 and run[head_at + 1].text == "/" and run[head_at + 2].kind == "num" and run[head_at + 2].value:
        cands.append((v / run[head_at + 2].value, None))  # "= 3/4"
    return cands, ("-" if sign < 0 else "") + head.text


def _close(value: Fraction, stated: Fraction, decimals: int | None) -> bool:
    if value == stated:
        return True
    if decimals is None:
        return abs(value - stated) <= abs(value) * Fraction(1, 10**6)
    scale = 10**decimals
    if (value * scale).denominator == 1:  # representable at the shown precision: must be exact
        return False
    return abs(value - stated) < Fraction(1, scale)


def _readings(run: list[Tok]) -> list[Fraction] | None:
    """Values of the lhs under every accepted reading; None if it is not a computation."""
    base = parse_tokens(run)
    if base is None or base[1] == 0:
        return None
    values = [base[0]]
    for kw in ({"ltr": True}, {"pct": "number"}, {"pct": "relative"}, {"pct": "relative", "ltr": True}, {"glued": True}):
        res = parse_tokens(run, **kw)
        if res is not None:
            values.append(res[0])
    return values


def _claim(run: list[Tok], rhs: tuple[list[tuple[Fraction, int | None]], str]) -> Claim | None:
    values = _readings(run)
    if values is None:
        return None
    cands, stated = rhs
    ok = any(_close(v, s, d) for v in values for s, d in cands)
    return Claim(join_tokens(run), stated, values[0], ok)


def claims(text: str) -> list[Claim]:
    """Every stated computation in a chain, in order (annotations first), each marked true or false."""
    out: list[Claim] = []
    for m in _ANNOTATION.finditer(text):
        lhs, rhs_toks = tokenize(normalize(m[1])), tokenize(normalize(m[2]))
        if lhs and all(t.kind in _ARITH for t in lhs) and rhs_toks:
            rhs = _rhs([Tok("eq", "=", False), *rhs_toks], 0)
            c = _claim(lhs, rhs) if rhs else None
            if c is not None:
                out.append(c)
    for line in normalize(text).split("\n"):
        toks = tokenize(line)
        for i, t in enumerate(toks):
            if t.kind != "eq":
                continue
            run, rhs = _lhs(toks, i), _rhs(toks, i)
            c = _claim(run, rhs) if run and rhs else None
            if c is not None:
                out.append(c)
    return out


def false_claims(text: str) -> list[Claim]:
    """The stated computations that no reasonable reading makes true."""
    return [c for c in claims(text) if not c.ok]
