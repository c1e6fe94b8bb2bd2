"""A safe arithmetic checker for model chains: find every stated computation and say whether it is true.

    claims("3 \\times 10 = 30 minutes, so 50 + 1440 = 1940")   # -> [Claim(3*10=30 ok), Claim(50+1440=1940 FALSE)]
    evaluate("(3/5) * 50")                                        # -> Fraction(30)

Why a parser of our own: model text must never reach `eval`/`exec` (nor `ast.literal_eval`, which is not
meant for arithmetic either). This is a ~100-line recursive-descent parser over numbers, + - * / ^ and
parentheses with exact Fractions; anything else is not an expression. Exponents are integers |e| <= 12
and values are capped, so no input can make it slow.

What counts as a stated computation (a *claim*):
- GSM8K calculator annotations `<<48/2=24>>`;
- `lhs = rhs` on one line, after LaTeX/Unicode/markdown are rewritten to plain arithmetic (\\times, \\cdot,
  \\div, \\frac{a}{b}, \\text{units} dropped, x between numbers, "20% of 50" -> 20% * 50). The lhs is the run
  of arithmetic tokens right before "=" and must hold at least one binary operator; the rhs is the first
  number (or parenthesised group) after "=", so running chains "3 * 10 = 30 * 2 = 60" check each step.

Conservative on purpose (a true chain flagged false would be worse than a missed slip), a claim is true if
ANY reasonable reading makes it true, and skipped when its lhs is cut (starts with "*" or "/", or follows a
word such as a variable: "x + 3 = 7"):
- precedence or plain left-to-right reading (small models write running totals "10 + 20 * 3 = 90");
- a percent as a fraction (20% = 0.2), as a bare number, or relative ("50 - 20% = 40");
- the rhs as its first number or as a fraction "3/4";
- rounding: when the true value has more decimals than the rhs shows, any rhs within one unit of its last
  shown digit passes (33.33, 33.3, 33 and 34 all pass for 100/3); otherwise equality must be exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_MAX = Fraction(10) ** 30  # larger intermediate values are junk, not arithmetic
_MAX_TOKENS = 200

_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"<<[^<>]*>>"), " "),  # annotations are checked separately
    (re.compile(r"\\\[|\\\]"), "\n"),
    (re.compile(r"\\\(|\\\)"), " "),
    (re.compile(r"\\(?:text|mathrm|mbox|operatorname)\s*\{[^{}]*\}"), " "),  # units and labels
    (re.compile(r"\\(?:textbf|mathbf|boxed|fbox)\s*\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\\(?:times|cdot|ast)(?![A-Za-z])"), " * "),
    (re.compile(r"\\div(?![A-Za-z])"), " / "),
    (re.compile(r"\\(?:left|right)(?![A-Za-z])"), ""),
    (re.compile(r"\\([%$])"), r"\1"),
    (re.compile(r"(?<=\d)(?:\{,\}|\\,)(?=\d{3})"), ","),
    (re.compile(r"\\(?:,|;|!|quad|qquad)"), " "),
    (re.compile(r"\^\s*\{([^{}]*)\}"), r"^(\1)"),
    (re.compile(r"\\(?:approx|neq|ne|leq|geq|le|ge|sim|equiv)(?![A-Za-z])"), " ≈ "),
    (re.compile("[×·∙⋅]"), " * "),
    (re.compile("÷"), " / "),
    (re.compile("[−–]"), "-"),
    (re.compile(r"\*\*|__"), " "),  # markdown bold, not powers
    (re.compile(r"(?<=[\d%)])\s*[xX]\s*(?=[$\d(.])"), " * "),  # 3 x 4
    (re.compile(r"(\d%|\d/\d+|\d\s*\))\s+of\s+(?=[$\d(.])"), r"\1 * "),  # 20% of 50, 3/4 of 20
]
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")
_TOKEN = re.compile(
    r"(?P<time>(?<![0-9:])[0-9]{1,2}:[0-9]{2}(?![0-9:]))"  # clock times are not arithmetic
    r"|(?P<num>\$?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?%?|\$?\.\d+%?)"
    r"|(?P<junk2>==|<=|>=|!=|=>)"
    r"|(?P<eq>=)|(?P<op>[-+*/^])|(?P<lp>\()|(?P<rp>\))"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<ws>\s+)|(?P<junk>.)"
)


@dataclass(frozen=True)
class Tok:
    kind: str  # num, op, lp, rp, eq, word, time, junk
    text: str
    space_before: bool
    value: Fraction | None = None
    pct: bool = False
    decimals: int = 0


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


def _join(toks: list[Tok]) -> str:
    return re.sub(r"\(\s+|\s+\)", lambda m: m.group().strip(), " ".join(t.text for t in toks))


def normalize(text: str) -> str:
    """LaTeX, Unicode and markdown arithmetic rewritten as plain `3 * (1/2) = 1.5` text."""
    for _ in range(3):  # nested \frac, innermost first
        text = _FRAC.sub(r" ((\1)/(\2)) ", text)
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    return text.replace("{", " ").replace("}", " ")


def tokenize(line: str) -> list[Tok]:
    out: list[Tok] = []
    space = True
    for m in _TOKEN.finditer(line):
        kind = m.lastgroup or "junk"
        if kind == "ws":
            space = True
            continue
        text = m.group()
        if kind == "num" and re.fullmatch(r"0\d{3}", text):  # 0900 is a clock time, not a number
            kind = "word"
        if kind == "num":
            raw = text.lstrip("$").rstrip("%").replace(",", "")
            decimals = len(raw.split(".", 1)[1]) if "." in raw else 0
            out.append(Tok("num", text, space, Fraction(raw), text.endswith("%"), decimals))
        else:
            out.append(Tok("junk" if kind == "junk2" else kind, text, space))
        space = False
    return out


class _Fail(Exception):
    pass


class _Parser:
    """Recursive descent over arithmetic tokens. pct: 'fraction' | 'number' | 'relative'; ltr: no precedence."""

    def __init__(self, toks: list[Tok], pct: str = "fraction", ltr: bool = False, glued: bool = False) -> None:
        self.toks, self.i, self.pct, self.ltr, self.glued, self.binary = toks, 0, pct, ltr, glued, 0

    def parse(self) -> Fraction:
        if not self.toks or len(self.toks) > _MAX_TOKENS:
            raise _Fail
        v = self.chain() if self.ltr else self.expr()
        if self.i != len(self.toks):
            raise _Fail
        return v

    def peek(self, *texts: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i].kind == "op" and self.toks[self.i].text in texts

    def take(self) -> Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def chain(self) -> Fraction:
        v = self.unary()
        while self.peek("+", "-", "*", "/"):
            v = self.apply(v, self.take().text)
        return v

    def expr(self) -> Fraction:
        v = self.term()
        while self.peek("+", "-"):
            v = self.apply(v, self.take().text)
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while self.peek("*", "/"):
            v = self.apply(v, self.take().text)
        return v

    def apply(self, left: Fraction, op: str) -> Fraction:
        self.binary += 1
        start = self.i
        right = self.term() if op in "+-" and not self.ltr else self.unary()
        bare_pct = self.i == start + 1 and self.toks[start].kind == "num" and self.toks[start].pct
        if op in "+-" and bare_pct and self.pct == "relative":  # 50 - 20% = 40
            right = left * self.toks[start].value / 100
        if op == "/" and right == 0:
            raise _Fail
        v = {"+": left + right, "-": left - right, "*": left * right, "/": left / right if right else left}[op]
        if abs(v) > _MAX:
            raise _Fail
        return v

    def unary(self) -> Fraction:
        if self.peek("+", "-"):
            sign = -1 if self.take().text == "-" else 1
            return sign * self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek("^"):
            self.take()
            self.binary += 1
            exp = self.unary()
            if exp.denominator != 1 or abs(exp) > 12 or (base == 0 and exp < 0) or abs(base) > 10**6:
                raise _Fail
            base = base ** int(exp)
        return base

    def atom(self) -> Fraction:
        if self.i >= len(self.toks):
            raise _Fail
        t = self.take()
        if t.kind == "num":
            assert t.value is not None
            nxt = self.toks[self.i : self.i + 2]
            if self.glued and len(nxt) == 2 and nxt[0].text == "/" and nxt[1].kind == "num" and not nxt[0].space_before and not nxt[1].space_before:
                self.i += 2  # "25 / 1/3": a fraction written without spaces binds first
                self.binary += 1
                if not nxt[1].value:
                    raise _Fail
                return t.value / nxt[1].value
            return t.value / 100 if t.pct and self.pct == "fraction" else t.value
        if t.kind == "lp":
            v = self.expr() if not self.ltr else self.chain()
            if self.i >= len(self.toks) or self.toks[self.i].kind != "rp":
                raise _Fail
            self.i += 1
            return v
        raise _Fail


def _parse(toks: list[Tok], **kw: object) -> tuple[Fraction, int] | None:
    p = _Parser(toks, **kw)  # type: ignore[arg-type]
    try:
        return p.parse(), p.binary
    except (_Fail, ZeroDivisionError, OverflowError):
        return None


def evaluate(expr: str) -> Fraction | None:
    """The exact value of a plain arithmetic expression, or None if it is not one."""
    toks = tokenize(normalize(expr))
    if any(t.kind not in ("num", "op", "lp", "rp") for t in toks):
        return None
    res = _parse(toks)
    return None if res is None else res[0]


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
    full = _parse(run)
    if full is not None:  # a running chain: "2 * 23 - 4 = 46 - 4 = 42"
        cands.append((full[0], None))
    head = run[head_at] if head_at < len(run) else None
    if head is None or head.kind not in ("num", "lp"):
        return (cands, _join(run)) if cands else None
    if head.kind == "lp":
        depth = 0
        for k in range(head_at, len(run)):
            depth += {"lp": 1, "rp": -1}.get(run[k].kind, 0)
            if depth == 0:
                res = _parse(run[head_at : k + 1])
                if res is not None:
                    cands.append((sign * res[0], None))
                break
        return (cands, _join(run)) if cands else None
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
    base = _parse(run)
    if base is None or base[1] == 0:
        return None
    values = [base[0]]
    for kw in ({"ltr": True}, {"pct": "number"}, {"pct": "relative"}, {"pct": "relative", "ltr": True}, {"glued": True}):
        res = _parse(run, **kw)
        if res is not None:
            values.append(res[0])
    return values


def _claim(run: list[Tok], rhs: tuple[list[tuple[Fraction, int | None]], str]) -> Claim | None:
    values = _readings(run)
    if values is None:
        return None
    cands, stated = rhs
    ok = any(_close(v, s, d) for v in values for s, d in cands)
    return Claim(_join(run), stated, values[0], ok)


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
