"""Checks and conversions of what a person (or a client) sends to the views.

Every value reaches these checks, whatever the UI widgets allow: a client can skip them. Bad input raises
`ValueError` with a message for the person at the screen, naming the field; the UI turns it into a `gr.Error`.
"""

import math
import re
import reprlib

MAX_SEED = 2**31 - 1


def fmt(x):
    """A number as the views print it: 4 significant digits."""
    return f"{x:.4g}"


def parse_number_list(text, *, name, max_count, lo, hi):
    """'0, 1, 2.5' (commas, semicolons or spaces) -> [0.0, 1.0, 2.5]; ValueError with a readable reason."""
    if text is None or not str(text).strip():
        raise ValueError(f"Enter at least one {name}, e.g. 0, 1, 4.")
    tokens = [tok for tok in re.split(r"[,;\s]+", str(text).strip().strip("[]()")) if tok]
    if not tokens:
        raise ValueError(f"Enter at least one {name}, e.g. 0, 1, 4.")
    if len(tokens) > max_count:
        raise ValueError(f"{len(tokens)} values given for the {name}; at most {max_count} are allowed.")
    values = []
    for tok in tokens:
        try:
            value = float(tok)
        except ValueError:
            message = f"{reprlib.repr(tok)} is not a number (each {name} must be a number like 4 or 2.5)."
            raise ValueError(message) from None
        if not math.isfinite(value):
            raise ValueError(f"{reprlib.repr(tok)} is not a finite number; every {name} must be finite.")
        if not lo <= value <= hi:
            raise ValueError(f"{name} {fmt(value)} is outside the allowed range [{fmt(lo)}, {fmt(hi)}].")
        values.append(value)
    return values


def as_int(value, name, lo, hi):
    """`value` as an int in [lo, hi]; 3.0 and "3" pass, 2.5, "abc" and NaN do not."""
    try:
        as_float = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number, got {reprlib.repr(value)}.") from None
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise ValueError(f"{name} must be a whole number, got {reprlib.repr(value)}.")
    if not lo <= as_float <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {as_float:.10g}.")
    return int(as_float)


def as_float(value, name, lo, hi):
    """`value` as a finite float in [lo, hi]."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {reprlib.repr(value)}.") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a finite number between {fmt(lo)} and {fmt(hi)}, got {value}.")
    return value


def as_choice(value, name, choices):
    """`value` if it is one of the string `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Unknown {name} {reprlib.repr(value)}; choose one of {', '.join(choices)}.")
    return value
