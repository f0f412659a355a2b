"""Guidance: how a sampler turns noise predictions into one guided prediction per step.

Notation (DiT's scale s throughout): eps_c = eps(x_t, t, y), the conditional prediction, and eps_o,
the prediction to guide *away from*. Each method below is a pure function; `Guidance` holds the
options of one sampling run, refuses combinations with no defined meaning, and applies them in
this order at every step (the loop in `playground.sampling` calls it):

1. The pair. eps_o is one of
   - CFG (default): eps(x_t, t, null), the unconditional prediction (Ho & Salimans 2022);
   - a negative class: eps(x_t, t, y_neg), what "negative prompts" are: away from y_neg, towards y;
   - autoguidance: eps_weak(x_t, t, y), a weaker model with the same conditioning (Karras et al. 2024).
2. The combine: eps = eps_o + s (eps_c - eps_o), only at integer timesteps t_lo <= t <= t_hi when a
   guidance interval is set (Kynkaanniemi et al. 2024); eps = eps_c (s = 1) elsewhere.
3. Classifier guidance, where the combine applies: eps -= g sqrt(1 - abar_t) grad log p(y | x_t, t)
   (Dhariwal & Nichol 2021), with a noise-aware classifier.
4. CFG rescale (Lin et al. 2024), if set, towards the conditional prediction's standard deviation: of
   eps (the paper rescales the model's output, v there; for an eps-model that literal form is on eps,
   as diffusers' `rescale_noise_cfg`), or of x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), a
   variant (the default, "x0").
5. Clip x0 to [-1, 1] and re-derive eps from it, as the reference DDIM does (off: `clip=False`).
"""

from dataclasses import dataclass

import torch

from playground.diffusion import NUM_TIMESTEPS

RESCALE_SPACES = ("x0", "eps")
# EDM2-XXL's guidance interval sigma in (0.28, 5.42] (Kynkaanniemi et al. 2024, Table 1), on this schedule's
# sigma_t = sqrt((1 - abar_t) / abar_t): the integer timesteps 82..578.
INTERVAL = (82, 578)
RESCALE_PHI = 0.7  # CFG rescale's phi, Lin et al.'s value


class GuidanceError(ValueError):
    """A guidance setting that cannot run on this model or has no defined meaning."""


def classifier_free_guidance(eps_cond, eps_other, scale):
    """The combine, DiT's convention: eps_o + s (eps_c - eps_o) = s eps_c + (1 - s) eps_o.

    With eps_o = eps_u this is CFG (Ho & Salimans write (1 + w) eps_c - w eps_u: their w = s - 1);
    with a negative class or a weaker model as eps_o, the same line is negative-class guidance or
    autoguidance. s = 0 gives eps_o, s = 1 gives eps_c exactly.
    """
    return eps_other + scale * (eps_cond - eps_other)


def in_interval(t, interval):
    """Whether integer timestep t gets guidance: t_lo <= t <= t_hi (both ends included), always if None.

    Kynkaanniemi et al. write the interval as sigma in (sigma_lo, sigma_hi]; sigma_t grows with t,
    so on integer timesteps that is t in [t_lo, t_hi] with sigma_lo = sigma_(t_lo - 1).
    """
    return interval is None or interval[0] <= t <= interval[1]


def rescale_guided(guided, positive, phi):
    """CFG rescale (Lin et al. 2024, Sec. 3.4, Eqs. 15-16), per sample over all its pixels.

    rescaled = guided * std(positive) / std(guided); out = phi * rescaled + (1 - phi) * guided.
    The paper applies it to the model's output, v there: a v-prediction model with a zero-terminal-SNR
    schedule, whose strong guidance over-exposes. For an eps-model the literal form is on eps (diffusers'
    `rescale_noise_cfg`); on x0 it is a variant.
    """
    dims = tuple(range(1, guided.ndim))
    ratio = positive.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True)
    return phi * (guided * ratio) + (1 - phi) * guided


def log_prob_gradient(classifier, x, t, labels):
    """grad_x log p(y | x_t, t) `[N, C, H, W]` through `classifier(x, t) -> logits` (one backward pass)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        log_p = classifier(x, torch.full((len(x),), t, device=x.device)).log_softmax(-1)
        (grad,) = torch.autograd.grad(log_p.gather(1, labels[:, None]).sum(), x)
    return grad


def classifier_guidance(eps, grad_log_p, classifier_scale, sigma):
    """Dhariwal & Nichol 2021 (Sec. 4.2, Alg. 2) in epsilon form: eps - g sqrt(1 - abar_t) grad log p(y | x_t).

    `sigma` = sqrt(1 - abar_t). By Bayes the same shift turns p(x_t) into p(x_t) p(y | x_t)^g.
    """
    return eps - classifier_scale * sigma * grad_log_p


@dataclass(frozen=True)
class Guidance:
    """The guidance options of one sampling run (defaults: constant CFG with clipping, as DiT samples).

    interval: `(t_lo, t_hi)` integer timesteps where guidance applies, or None for every step.
    rescale: CFG rescale's phi in [0, 1] (0: off); `rescale_space` "eps" (Lin et al.'s rescale of the model
        output, literal for an eps-model; diffusers' form) or "x0" (a variant, the default).
    negative_label: guide away from this class instead of the null class; or a tuple giving, for each
        digit 0..num_classes-1, the class its rows are guided away from.
    guide_model: autoguidance's weaker model (same classes, same image size) instead of the null class.
    classifier, classifier_scale: classifier guidance with a noise-aware `classifier(x_t, t) -> logits`.
    clip: clip x0 to [-1, 1] and re-derive eps (True, the reference's behaviour).
    """

    interval: tuple | None = None
    rescale: float = 0.0
    rescale_space: str = "x0"
    negative_label: int | tuple | None = None
    guide_model: torch.nn.Module | None = None
    classifier: torch.nn.Module | None = None
    classifier_scale: float = 0.0
    clip: bool = True

    @property
    def uses_classifier(self):
        return self.classifier is not None and self.classifier_scale != 0

    def other_labels(self, model, labels):
        """The labels `[N]` of eps_o's forward on the main model for rows asking for `labels` `[N]`.

        None where eps_o does not come from the main model (autoguidance) or cannot (no null row).
        """
        if self.guide_model is not None:
            return None
        if isinstance(self.negative_label, tuple):
            return torch.as_tensor(self.negative_label, device=labels.device)[labels]
        other = self.negative_label if self.negative_label is not None else model.null_class
        return None if other is None else torch.full_like(labels, other)

    def needs_other(self, scales):
        """Whether any scale uses eps_o at some step (CFG rescale needs it only where s != 1 too)."""
        return any(float(s) != 1 for s in scales)

    def check(self, model, scales):
        """Raise GuidanceError for settings that cannot run on `model` or mean nothing together."""
        classes = model.config.num_classes
        if self.interval is not None:
            lo, hi = self.interval
            if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= NUM_TIMESTEPS - 1):
                raise GuidanceError(f"the guidance interval must be integers 0 <= t_lo <= t_hi <= "
                                    f"{NUM_TIMESTEPS - 1}; got {self.interval}")
        if not 0 <= self.rescale <= 1:
            raise GuidanceError(f"CFG rescale's phi must be in [0, 1]; got {self.rescale}")
        if self.rescale_space not in RESCALE_SPACES:
            raise GuidanceError(f"rescale_space must be one of {RESCALE_SPACES}; got {self.rescale_space!r}")
        per_digit = isinstance(self.negative_label, tuple)
        negatives = self.negative_label if per_digit else (self.negative_label,)
        if self.negative_label is not None and not (
                (not per_digit or len(negatives) == classes)  # a per-digit map names one class for every digit
                and all(isinstance(k, int) and 0 <= k < classes for k in negatives)):
            raise GuidanceError(f"the negative class must be a digit in 0..{classes - 1} (or one per digit); "
                                f"got {self.negative_label}")
        if self.guide_model is not None:
            if self.negative_label is not None:
                raise GuidanceError("autoguidance and a negative class both replace the unconditional prediction; "
                                    "choose one")
            if self.uses_classifier:
                raise GuidanceError("autoguidance with classifier guidance has no defined meaning here; choose one")
            weak, strong = self.guide_model.config, model.config
            if (weak.num_classes, weak.input_size, weak.in_channels) != (
                    strong.num_classes, strong.input_size, strong.in_channels):
                raise GuidanceError("the guide model must have the same classes and image size as the main model")
        if self.classifier_scale and self.classifier is None:
            raise GuidanceError("classifier guidance needs a classifier")
        if self.needs_other(scales) and self.guide_model is None and self.negative_label is None \
                and model.null_class is None:
            raise GuidanceError(
                "this model was trained without label dropout (class_dropout_prob = 0), so it has no null class "
                "and no unconditional prediction: classifier-free guidance cannot run on it. Sample it at s = 1 "
                "(plain conditional), or guide it with a negative class or a weaker model.")
