"""The preference losses the course writes by hand, one function each, shared by every notebook and test.

Each takes per-example quantities a notebook has already computed (scores of a reward model, or sequence
log-probabilities from :mod:`helpers.lm`) and returns the mean loss over the batch, so a notebook can
print the formula's terms and compare the number with what a TRL trainer reports on the same batch.
Every loss has a test that tells it from its opposite: one gradient step on a fixed batch must move the
quantity the loss is about in the right direction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | float = 0.0) -> torch.Tensor:
    """``-log σ(r_chosen - r_rejected - margin)``, averaged: the reward-model loss of InstructGPT and TRL.

    Under the Bradley-Terry model the chance that ``chosen`` is preferred is ``σ(r_chosen - r_rejected)``;
    the loss is that chance's negative log-likelihood. Only the difference of two scores is trained, so a
    reward model's scale and offset are free: a score means something only beside another score.
    """
    return -F.logsigmoid(chosen - rejected - margin).mean()


def dpo(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
        ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO: ``-log σ(β [(log π(y_w) - log π_ref(y_w)) - (log π(y_l) - log π_ref(y_l))])``, averaged.

    Arguments are sequence log-probabilities, summed over answer tokens (as TRL sums them). ``β log π/π_ref``
    is the reward the policy implicitly assigns an answer, so this is the Bradley-Terry loss of that reward:
    the reward model and the policy are one network (arXiv 2305.18290).
    """
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def ipo(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
        ref_rejected: torch.Tensor, beta: float, chosen_tokens: torch.Tensor,
        rejected_tokens: torch.Tensor) -> torch.Tensor:
    """IPO: ``(h - 1/(2β))²`` with ``h`` the difference of per-token mean log-ratios, averaged.

    The squared loss stops pulling once the chosen answer's log-ratio leads by ``1/(2β)``, where DPO's logistic
    loss keeps pushing the margin toward infinity when preferences are deterministic (arXiv 2310.12036). The
    log-ratios are divided by each answer's token count, as TRL and the IPO authors compute them.
    """
    h = (policy_chosen - ref_chosen) / chosen_tokens - (policy_rejected - ref_rejected) / rejected_tokens
    return ((h - 1 / (2 * beta)) ** 2).mean()


def kto(policy: torch.Tensor, ref: torch.Tensor, desirable: torch.Tensor, reference_point: torch.Tensor | float,
        beta: float, desirable_weight: float = 1.0, undesirable_weight: float = 1.0) -> torch.Tensor:
    """KTO: a desirable answer loses ``λ_D (1 - σ(β (r - z)))``, an undesirable one ``λ_U (1 - σ(β (z - r)))``.

    ``r = log π(y|x) - log π_ref(y|x)`` is the implied reward (sequence sums), ``z`` the reference point: an
    estimate of KL(π ‖ π_ref) (TRL's, from mismatched prompt/answer pairs of the batch), detached and at least 0.
    No pairs are needed, only a label per answer; the sigmoid makes the loss saturate, like the value function of
    prospect theory (arXiv 2402.01306).
    """
    r = policy - ref
    z = torch.as_tensor(reference_point, dtype=r.dtype, device=r.device).clamp(min=0).detach()
    losses = torch.where(desirable.bool(), desirable_weight * (1 - torch.sigmoid(beta * (r - z))),
                         undesirable_weight * (1 - torch.sigmoid(beta * (z - r))))
    return losses.mean()


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, stable near 0: the log-probability of *not* producing an answer."""
    return torch.log(-torch.expm1(x))


def orpo(nll_chosen: torch.Tensor, chosen_mean: torch.Tensor, rejected_mean: torch.Tensor,
         beta: float) -> torch.Tensor:
    """ORPO: the chosen answer's NLL minus ``β · log σ(log odds(chosen) - log odds(rejected))``, averaged.

    ``chosen_mean`` and ``rejected_mean`` are per-token *mean* log-probabilities (ORPO length-averages them), and
    ``odds(y) = p / (1 - p)`` with ``p = exp(mean)``. No reference model: the NLL term is ordinary SFT on the chosen
    answers and the odds ratio pushes the rejected ones down relative to them (arXiv 2403.07691).
    """
    log_odds = (chosen_mean - rejected_mean) - (log1mexp(chosen_mean) - log1mexp(rejected_mean))
    return nll_chosen - beta * F.logsigmoid(log_odds).mean()
