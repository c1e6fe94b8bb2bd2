"""A safe arithmetic evaluator for text written by models: numbers, + - * / ^ and parentheses, exactly.

    evaluate("(3/5) * 50")              # -> Fraction(30)
    evaluate(r"\\frac{3}{5} \\times 50")  # -> Fraction(30): LaTeX, Unicode and markdown are normalized first
    evaluate("__import__('os')")        # -> None: not arithmetic

Why a parser of our own: model text must never reach `eval`/`exec` (nor `ast.literal_eval`, which is not
meant for arithmetic either). This is a small recursive-descent parser over a token list with exact Fractions;
anything else is "not an expression" (None). Exponents are integers |e| <= 12, bases |b| <= 10^6, values
are capped at 10^30 and expressions at 200 tokens, so no input can make it slow or huge.

`normalize` rewrites LaTeX/Unicode/markdown into plain arithmetic (\\times, \\cdot, \\div, \\frac{a}{b},
\\text{units} dropped, "x" between numbers, "20% of 50" -> 20% * 50); `tokenize` splits a line into numbers
(with $, thousands commas, %, decimals), operators, parentheses, "=", words and other junk; clock times
(2:30) and 4-digit leading-zero numbers (0900) are words, not numbers. The parser has readings used by
tinyreason.analysis.claims to be lenient: percent as a fraction, a bare number or relative ("50 - 20%"),
strict left-to-right (no precedence), and glued fractions binding first ("25 / 1/3" = 75).
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


def join_tokens(toks: list[Tok]) -> str:
    """Tokens back to readable text: "(3 / 5) * 50"."""
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


def parse_tokens(toks: list[Tok], **kw: object) -> tuple[Fraction, int] | None:
    """(value, number of binary operators) of a token list under a reading (pct=, ltr=, glued=), or None."""
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
    res = parse_tokens(toks)
    return None if res is None else res[0]
