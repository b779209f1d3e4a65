"""Joint scaling law for dense and mixture-of-experts models (issue #16).

Ludziejewski et al. 2025, "Joint MoE Scaling Laws: Mixture of Experts Can Be Memory Efficient"
(ICML 2025, arXiv:2502.05172), eq. (1):

    L(N_act, D, Ê) = a·Ê^δ·N_act^(α + γ·ln Ê) + b·Ê^ω·D^(β + ζ·ln Ê) + c

with N_act the active parameters, D the training tokens and Ê the (transformed) number of experts
per active expert (E = 1 is a dense model). The paper's fitted constants were read through a
secondary transcription (occupying-mars.notion.site "MOE scaling laws", quoting arXiv:2502.05172),
which gives the magnitudes a = 35.91, |δ| = 0.2285, 0.1889 − 0.0098·ln Ê (N exponent),
b = 35.98, |ω| = 0.5529, 0.1775 + 0.0259·ln Ê (D exponent), c = 1.3637 but garbles the signs.
The signs used here,

    L = 35.91·Ê^−0.2285·N_act^−(0.1889 − 0.0098·ln Ê) + 35.98·Ê^+0.5529·D^−(0.1775 + 0.0259·ln Ê) + 1.3637,

are the only assignment (of the 16 tried, tests/scaling_laws/test_moe_law.py) that reproduces the
two results the paper reports in its Fig. 2 (as summarised in a second secondary note): at 1e20
FLOPs the E = 4 model matches the dense model's loss with ~40 % less compute (here 37 %), and the
compute-optimal E = 8 model has fewer active parameters than the dense one (more tokens).
ASSUMPTIONS stated with every answer: (1) that sign reading; (2) Ê = E (the paper's saturating
transform of E, after Clark et al. 2022, is not applied: it would shrink the benefit of many
experts, so the solver's lattice stays at E ≤ 32); (3) the fit covers runs up to 2.7B active and
5B total parameters (abstract), larger models are extrapolation; (4) the losses are on the paper's
data and tokenizer, so with ``--allow-moe`` dense and sparse plans are BOTH scored with this law
(its E = 1 slice for dense, preset ``ludziejewski2025``), never against another law's offsets.

At fixed E the law is a Chinchilla-form law in (N_act, D): ``at(E)`` returns it as a
``ParametricLaw`` (A = a·E^δ, α' = 0.1889 − 0.0098·ln E, B = b·E^ω, β' = 0.1775 + 0.0259·ln E,
floor c), so every closed form of the planner (compute-optimal split, loss of a plan) applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scaling_laws.laws import ParametricLaw

SOURCE = ("Ludziejewski et al. 2025, 'Joint MoE Scaling Laws: Mixture of Experts Can Be Memory Efficient', "
          "ICML 2025, arXiv:2502.05172, eq. (1); constants via a secondary transcription, signs (fixed by the "
          "paper's Fig. 2 results) and Ê = E as documented in scaling_laws/moe.py")


@dataclass(frozen=True)
class JointMoELaw:
    """L(N_act, D, E) of Ludziejewski et al. 2025 (module docstring); E = experts per active expert."""

    a: float = 35.91
    delta: float = -0.2285         # A = a·E^delta
    alpha: float = 0.1889          # N exponent magnitude at E = 1 ...
    gamma: float = -0.0098         # ... plus gamma per ln E
    b: float = 35.98
    omega: float = 0.5529          # B = b·E^omega
    beta: float = 0.1775           # D exponent magnitude at E = 1 ...
    zeta: float = 0.0259           # ... plus zeta per ln E
    c: float = 1.3637
    name: str = "ludziejewski2025"
    source: str = SOURCE
    max_fitted_total_params: float = 5e9     # abstract: "up to 5B total parameters"
    max_fitted_active_params: float = 2.7e9  # abstract: "up to 2.7B active parameters"

    def loss(self, N_act, D, expansion=1.0):
        """Predicted loss (nats/token); broadcasts over numpy arrays."""
        E = np.asarray(expansion, dtype=float)
        log_e = np.log(E)
        N = np.asarray(N_act, dtype=float)
        D = np.asarray(D, dtype=float)
        return (self.a * E ** self.delta * N ** -(self.alpha + self.gamma * log_e)
                + self.b * E ** self.omega * D ** -(self.beta + self.zeta * log_e) + self.c)

    def at(self, expansion: float) -> ParametricLaw:
        """The law at a fixed expansion E (total routed experts / active routed experts) as a
        Chinchilla-form law in (N_act, D)."""
        if not expansion >= 1 or not math.isfinite(expansion):
            raise ValueError(f"expansion: must be a finite number >= 1, got {expansion!r}")
        log_e = math.log(expansion)
        label = self.name if expansion == 1 else f"{self.name} (E={expansion:g})"
        return ParametricLaw(E=self.c, A=self.a * expansion ** self.delta, B=self.b * expansion ** self.omega,
                             alpha=self.alpha + self.gamma * log_e, beta=self.beta + self.zeta * log_e,
                             name=label, source=self.source)


JOINT_MOE = JointMoELaw()
