"""Sampling: temperature, top-p, a seed, and per-row constraints.

``generate`` runs any model with ``new_state``/``step``/``fork_state``: the
prompt is run once, its state copied to every variation, then one token per
step per row. Each row has a :class:`Constraint` that says which tokens are
legal next (grammar, key lock, range, monophony) and when the row is done.
Same seed, same prompt, same settings: same tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np
import torch


class Constraint(Protocol):
    """Which tokens one row may produce next, and whether it has finished."""

    done: bool

    def allowed(self) -> np.ndarray:
        """Boolean mask (V,) of legal next tokens; at least one must be True.
        The caller only reads it (a constraint may hand out one cached array)."""
        ...

    def advance(self, token: int) -> None:
        """Record the token chosen for this row."""
        ...


# A constraint may also define ``forced_run() -> list[int]``: the tokens that must
# follow the one just chosen (bar lines, positions, a given melody). ``generate``
# advances the row through them and feeds them in the same model step, so forced
# tokens cost no steps of their own (when every row's run has the same length).


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside (decoding steps one token at a time: a small
    model's operations are too short to share out, and on a busy machine the second
    thread mostly waits; measured about 10x less CPU per step)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def nucleus_size(sorted_probs: np.ndarray, top_p: float) -> int:
    """How many of the tokens (probabilities sorted high to low) top-p keeps: the
    smallest set whose probability reaches ``top_p``, never fewer than one."""
    if top_p >= 1.0:
        return len(sorted_probs)
    before = np.cumsum(sorted_probs) - sorted_probs  # probability of the tokens above each
    return max(1, int(np.searchsorted(before, top_p, side="left")))


def sample_row(logits: np.ndarray, allowed: np.ndarray, temperature: float, top_p: float,
               rng: np.random.Generator) -> int:
    """One token id from one row of ``logits`` (V,) among those ``allowed`` (V,) marks;
    temperature 0 means greedy.

    In numpy on the allowed tokens alone: a step's constraint admits a few dozen
    tokens, and each torch operation on the whole row costs more to dispatch than
    the arithmetic (measured on a loaded machine: about 45 us against 150 us for the
    same draw in torch; on a quiet one the difference hardly shows in a continuation)."""
    ids = np.flatnonzero(allowed)
    scores = logits[ids].astype(np.float64)
    if temperature <= 0:
        return int(ids[int(np.argmax(scores))])
    order = np.argsort(-scores, kind="stable")
    probs = np.exp((scores[order] - scores[order[0]]) / temperature)
    probs /= probs.sum()
    cumulative = np.cumsum(probs[:nucleus_size(probs, top_p)])
    # Inverse CDF over the nucleus: one uniform draw per row and step.
    pick = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return int(ids[order[min(pick, len(cumulative) - 1)]])


@torch.inference_mode()
def generate(
    model: torch.nn.Module,
    prompt: Sequence[int],
    constraints: Sequence[Constraint],
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 1024,
    use_cache: bool = True,
    recrop: Callable[[list[int]], list[int]] | None = None,
    pad: int = 0,
) -> list[list[int]]:
    """Continue ``prompt`` once per constraint; returns the new tokens of each row.

    ``use_cache=False`` recomputes the whole sequence every step (the reference
    the KV-cache benchmark compares against). ``recrop`` shortens a row that
    would outgrow a Transformer's context (keeping its conditioning tokens).
    """
    rows = len(constraints)
    rng = np.random.default_rng(int(seed))
    is_transformer = model.config.arch == "transformer"
    block = getattr(model.config, "block_size", None) if is_transformer else None
    sequences = [list(prompt) for _ in range(rows)]
    new_tokens: list[list[int]] = [[] for _ in range(rows)]
    state, logits = prefill(model, [list(prompt)], use_cache)
    if use_cache:
        state = model.fork_state(state, torch.zeros(rows, dtype=torch.long))
    logits = logits.expand(rows, -1)
    pad_only = _only(pad, logits.size(-1))
    for _ in range(max_new_tokens):
        if all(c.done for c in constraints):
            break
        scores = logits.numpy()
        chosen = [sample_row(scores[row], c.allowed() if not c.done else pad_only,
                             temperature, top_p, rng) for row, c in enumerate(constraints)]
        for row, token in enumerate(chosen):
            if not constraints[row].done:
                constraints[row].advance(token)
                new_tokens[row].append(token)
            sequences[row].append(token)
        runs = _forced_runs(constraints, pad)
        for row, run in enumerate(runs):
            for token in run:
                if not constraints[row].done:
                    constraints[row].advance(token)
                    new_tokens[row].append(token)
                sequences[row].append(token)
        if block is not None and len(sequences[0]) > block:
            if recrop is None:
                break
            sequences = [recrop(s) for s in sequences]
            state, logits = prefill(model, sequences, use_cache)
            continue
        if use_cache:
            fed = [[token, *run] for token, run in zip(chosen, runs, strict=True)]
            step_logits, state = model.step(torch.tensor(fed).view(rows, -1), state)  # (B, T, V)
            logits = step_logits[:, -1]
        else:
            state, logits = prefill(model, sequences, use_cache)
    return new_tokens


def _forced_runs(constraints: Sequence[Constraint], pad: int) -> list[list[int]]:
    """Each row's forced tokens (see ``forced_run``), or none if the rows disagree in length."""
    runs = [c.forced_run() if not c.done and hasattr(c, "forced_run") else None
            for c in constraints]
    active = [r for r in runs if r is not None]
    if not active or not active[0] or any(len(r) != len(active[0]) for r in active) \
            or len(active) != sum(not c.done for c in constraints):
        return [[] for _ in constraints]
    return [r if r is not None else [pad] * len(active[0]) for r in runs]


def prefill(model: torch.nn.Module, sequences: list[list[int]], use_cache: bool = True):
    """Run whole sequences (equal lengths); returns (state, last logits (B, V))."""
    idx = torch.tensor(sequences, dtype=torch.long)  # (B, T)
    if not use_cache:
        logits, _ = model(idx)
        return None, logits[:, -1]
    state = model.new_state(idx.size(0))
    logits, state = model.step(idx, state)
    return state, logits[:, -1]


def _only(token: int, size: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[token] = True
    return mask


@torch.no_grad()
def token_log_probs(model: torch.nn.Module, sequence: Sequence[int]) -> np.ndarray:
    """log2 P(token_t | tokens before t) for t = 1..len-1 (teacher forcing), in bits."""
    idx = torch.tensor([list(sequence)], dtype=torch.long)  # (1, T)
    logits, _ = model(idx[:, :-1])
    log_probs = torch.log_softmax(logits.float(), dim=-1)[0]  # (T-1, V)
    picked = log_probs.gather(-1, idx[0, 1:].unsqueeze(-1)).squeeze(-1)
    return (picked / np.log(2)).numpy()
