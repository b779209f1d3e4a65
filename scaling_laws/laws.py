"""Loss laws L(N, D): predicted pre-training loss for N parameters trained on D tokens.

Two functional forms, both immutable and validated on construction:

* ``ParametricLaw`` (Hoffmann et al. 2022, eq. 2):  L(N, D) = E + A / N**alpha + B / D**beta
* ``KaplanLaw``     (Kaplan et al. 2020, eq. 1.5):   L(N, D) = [(Nc/N)**(alphaN/alphaD) + Dc/D]**alphaD

Every law exposes ``loss(N, D)`` and ``grad_log(N, D)`` = (dL/dln N, dL/dln D), both numpy-vectorised,
which is all the numeric optimisers in this package need; so a new form only has to provide those two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar, Union

import numpy as np

from scaling_laws.errors import LawError


def _check(name: str, value, low: float, high: float) -> float:
    """``value`` as a float if it is a number in [low, high], else LawError naming ``name`` and the range."""
    if isinstance(value, bool) or value is None:  # float(True) == 1.0: a TOML `alpha = true` is a mistake
        raise LawError(f"{name}: expected a number in [{low:g}, {high:g}], got {value!r}", name)
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float range
        raise LawError(f"{name}: expected a number in [{low:g}, {high:g}], got {_short(value)}", name) from None
    if not (math.isfinite(x) and low <= x <= high):
        raise LawError(f"{name}: must be a number in [{low:g}, {high:g}], got {_short(value)}", name)
    return x


def _short(value, limit: int = 40) -> str:
    """repr of ``value`` cut to ``limit`` characters, so a 5,000-digit constant still gives a one-line error
    (repr of an int over 4,300 digits would itself raise ValueError)."""
    if isinstance(value, int) and value.bit_length() > 100:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_ratio(law, low_key: str, high_key: str, low: float, high: float) -> None:
    """LawError naming ``high_key`` unless ``high_key / low_key`` is in [low, high]."""
    ratio = getattr(law, high_key) / getattr(law, low_key)
    if not low <= ratio <= high:
        raise LawError(f"{high_key}: {high_key}/{low_key} must be in [{low:g}, {high:g}], got "
                       f"{getattr(law, high_key):g}/{getattr(law, low_key):g} = {ratio:.3g}", high_key)


# Allowed constants (inclusive ranges). Wide enough for every published law we use (Hoffmann et al. 2022,
# Besiroglu et al. 2024, Muennighoff et al. 2023, Kaplan et al. 2020: all well inside), narrow enough
# that every function of this package returns finite numbers on SANE_DOMAIN (worked bound for the
# tightest one, params_for_tokens at alpha=0.05, beta=0.4, A/B=1e9, D=1e15: N = e^648 < 1.8e308);
# tests/scaling_laws/test_law_hardening.py checks every corner of these boxes.
PARAMETRIC_RANGES = {
    "E": (0.0, 20.0),      # nats/token; 20 nats is a uniform guess over 5e8 tokens, beyond any vocabulary
    "A": (0.1, 1e8), "B": (0.1, 1e8),
    "alpha": (0.05, 1.5), "beta": (0.05, 1.5),
}
KAPLAN_RANGES = {"Nc": (1.0, 1e20), "Dc": (1.0, 1e20), "alphaN": (0.01, 1.5), "alphaD": (0.01, 1.5)}
# beta/alpha (alphaN/alphaD for Kaplan): the N that D tokens can feed grows as D**(beta/alpha), so a
# lopsided pair sends it past float range on ordinary token counts.
EXPONENT_RATIO = (0.125, 8.0)
# Inputs on which the ranges above guarantee finite results: N params, D (and unique) tokens, C FLOPs,
# I inference tokens, and target losses the law predicts there. Outside it a function still returns
# finite numbers or raises LawError naming the input; it never returns NaN or an overflowed inf.
SANE_DOMAIN = {"params": (1e6, 1e13), "tokens": (1e6, 1e15), "flops": (1e15, 1e30), "inference_tokens": (0.0, 1e16)}


@dataclass(frozen=True)
class ParametricLaw:
    """L(N, D) = E + A / N**alpha + B / D**beta.

    E is the irreducible loss (entropy of text), A/N**alpha the penalty of a finite model,
    B/D**beta the penalty of finite data. dL/dln N = -alpha*A/N**alpha, dL/dln D = -beta*B/D**beta.
    Allowed (LawError otherwise): E in [0, 20], A and B in [0.1, 1e8], alpha and beta in [0.05, 1.5],
    beta/alpha in [0.125, 8] (PARAMETRIC_RANGES, EXPONENT_RATIO).
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    name: str = "custom"
    source: str = ""
    form: ClassVar[str] = "parametric"
    CONSTANTS: ClassVar[tuple[str, ...]] = ("E", "A", "B", "alpha", "beta")
    RANGES: ClassVar[dict[str, tuple[float, float]]] = PARAMETRIC_RANGES

    def __post_init__(self) -> None:
        for key in self.CONSTANTS:
            object.__setattr__(self, key, _check(key, getattr(self, key), *self.RANGES[key]))
        _check_ratio(self, "alpha", "beta", *EXPONENT_RATIO)

    def loss(self, N, D):
        """Predicted loss (nats/token); broadcasts over numpy arrays."""
        return self.E + self.reducible(N, D)

    def reducible(self, N, D):
        """loss - floor, computed without E: at large N and D the two terms fall below E's rounding
        error (1e-16·E), and inverse questions along an iso-loss curve need them exactly."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        return self.A * N ** -self.alpha + self.B * D ** -self.beta

    def grad_log(self, N, D):
        """(dL/dln N, dL/dln D); both negative: more parameters or data always helps."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        return -self.alpha * self.A * N ** -self.alpha, -self.beta * self.B * D ** -self.beta

    def floor(self) -> float:
        """Loss of an infinite model on infinite data: E."""
        return self.E

    def constants(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in self.CONSTANTS}


@dataclass(frozen=True)
class KaplanLaw:
    """L(N, D) = [(Nc/N)**(alphaN/alphaD) + Dc/D]**alphaD  (Kaplan et al. 2020, eq. 1.5).

    With u = (Nc/N)**(alphaN/alphaD), v = Dc/D and s = u + v:
    dL/dln N = -alphaN * u * s**(alphaD-1),  dL/dln D = -alphaD * v * s**(alphaD-1).
    Kaplan counts non-embedding parameters and measures loss on WebText2 with a GPT-2 tokenizer, so
    its absolute losses are not comparable with the Chinchilla (MassiveText) laws.
    Allowed (LawError otherwise): Nc and Dc in [1, 1e20], alphaN and alphaD in [0.01, 1.5], alphaN/alphaD
    in [0.125, 8] (KAPLAN_RANGES, EXPONENT_RATIO).
    """

    Nc: float
    Dc: float
    alphaN: float
    alphaD: float
    name: str = "custom-kaplan"
    source: str = ""
    form: ClassVar[str] = "kaplan"
    CONSTANTS: ClassVar[tuple[str, ...]] = ("Nc", "Dc", "alphaN", "alphaD")
    RANGES: ClassVar[dict[str, tuple[float, float]]] = KAPLAN_RANGES

    def __post_init__(self) -> None:
        for key in self.CONSTANTS:
            object.__setattr__(self, key, _check(key, getattr(self, key), *self.RANGES[key]))
        _check_ratio(self, "alphaD", "alphaN", *EXPONENT_RATIO)

    def _log_parts(self, N, D):
        """ln u, ln v, ln s with u = (Nc/N)**(alphaN/alphaD), v = Dc/D, s = u + v: in log space so that
        no intermediate overflows (u reaches e^3000 at the search brackets' ends, where u**alphaD is fine)."""
        log_u = (self.alphaN / self.alphaD) * (math.log(self.Nc) - np.log(np.asarray(N, dtype=float)))
        log_v = math.log(self.Dc) - np.log(np.asarray(D, dtype=float))
        return log_u, log_v, np.logaddexp(log_u, log_v)

    def loss(self, N, D):
        """Predicted loss (nats/token, WebText2 / GPT-2 tokenizer); broadcasts over numpy arrays."""
        return np.exp(self.alphaD * self._log_parts(N, D)[2])

    def grad_log(self, N, D):
        log_u, log_v, log_s = self._log_parts(N, D)
        scale = (self.alphaD - 1.0) * log_s
        return -self.alphaN * np.exp(log_u + scale), -self.alphaD * np.exp(log_v + scale)

    def reducible(self, N, D):
        """loss - floor; the floor is 0."""
        return self.loss(N, D)

    def floor(self) -> float:
        return 0.0

    def constants(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in self.CONSTANTS}


Law = Union[ParametricLaw, KaplanLaw]
FORMS: dict[str, type] = {"parametric": ParametricLaw, "kaplan": KaplanLaw}

CHINCHILLA = ParametricLaw(
    E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, name="chinchilla",
    source="Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models', Approach 3 "
           "(Sec. 3.3, Appendix D.2)",
)
BESIROGLU = ParametricLaw(
    E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, name="besiroglu",
    source="Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt', Table 1 (refit of Approach 3)",
)
KAPLAN = KaplanLaw(
    Nc=8.8e13, Dc=5.4e13, alphaN=0.076, alphaD=0.095, name="kaplan",
    source="Kaplan et al. 2020, 'Scaling Laws for Neural Language Models', eq. 1.5 with the constants of "
           "eqs. 1.1-1.2 (their Table 2 joint fit is alphaN=0.076, alphaD=0.103, Nc=6.4e13, Dc=1.8e13)",
)
# The dense slice (E = 1) of the joint dense/MoE law (scaling_laws/moe.py, issue #16): the law under
# which --allow-moe compares dense and sparse plans. Constants and their caveats: scaling_laws/moe.py.
LUDZIEJEWSKI = ParametricLaw(
    E=1.3637, A=35.91, B=35.98, alpha=0.1889, beta=0.1775, name="ludziejewski2025",
    source="Ludziejewski et al. 2025, 'Joint MoE Scaling Laws', ICML 2025, arXiv:2502.05172, eq. (1) at E = 1 "
           "(constants via a secondary transcription; see scaling_laws/moe.py)",
)
PRESETS: dict[str, Law] = {law.name: law for law in (BESIROGLU, CHINCHILLA, KAPLAN, LUDZIEJEWSKI)}

# Deliberate default (docs/scaling_laws.md): the replication's constants put the compute-optimal ratio
# at ~18-20 tokens/parameter, as Chinchilla's own Approaches 1-2 and its 70B/1.4T model do; the original
# Approach-3 constants put it at ~93 tokens/parameter at Chinchilla's budget.
DEFAULT_LAW_NAME = "besiroglu"


def with_overrides(law: Law, overrides: dict[str, float]) -> Law:
    """A copy of ``law`` with some constants replaced (validated); unknown names raise LawError."""
    for key in overrides:
        if key not in law.CONSTANTS:
            raise LawError(f"{key}: not a constant of the {law.form} law (use one of "
                           f"{', '.join(law.CONSTANTS)})", key)
    if not overrides:
        return law
    return replace(law, **overrides, name=f"{law.name}+custom", source=f"{law.source} (modified)")


def law_to_dict(law: Law) -> dict:
    """Plain dict (form, name, source, constants) as written to TOML/JSON law files."""
    data = asdict(law)
    return {"form": law.form, **data}
