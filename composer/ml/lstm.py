"""The LSTM baseline: embedding, 2-3 LSTM layers, tied output table.

Same vocabulary, data, loop and sampling as the Transformer; its generation
state is the recurrent (h, c) pair instead of a key/value cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from composer.ml.config import ModelConfig

LSTMState = tuple[torch.Tensor, torch.Tensor]


class LSTMModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.n_embd, config.lstm_hidden, num_layers=config.n_layer,
                            batch_first=True, dropout=config.dropout if config.n_layer > 1 else 0.0)
        self.out = nn.Linear(config.lstm_hidden, config.n_embd)
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied, as in the Transformer
        nn.init.normal_(self.tok_emb.weight, mean=0.0, std=0.02)

    def _run(self, idx: torch.Tensor, state: LSTMState | None) -> tuple[torch.Tensor, LSTMState]:
        x = self.drop(self.tok_emb(idx))  # (B, T, C)
        y, new_state = self.lstm(x, state)  # (B, T, H)
        logits = self.head(self.ln_f(self.out(self.drop(y))))  # (B, T, V)
        return logits, new_state

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, _ = self._run(idx, None)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1),
                                   ignore_index=ignore_index)
        return logits, loss

    def new_state(self, batch_size: int) -> LSTMState | None:
        return None  # PyTorch starts from zeros when no state is given

    def step(self, idx: torch.Tensor, state: LSTMState | None) -> tuple[torch.Tensor, LSTMState]:
        """Logits (B, T, V) for new tokens ``idx`` (B, T), carrying the recurrent state."""
        return self._run(idx, state)

    @staticmethod
    def fork_state(state: LSTMState, rows: torch.Tensor) -> LSTMState:
        h, c = state
        return h[:, rows].contiguous(), c[:, rows].contiguous()  # (layers, B, H) each

    @torch.no_grad()
    def try_tokens(self, state: LSTMState | LSTMTrials, tokens: Sequence[int],
                   parents: Sequence[int | None]) -> tuple[torch.Tensor, LSTMTrials]:
        """The Transformer's ``try_tokens`` for the LSTM: each trial token runs from its
        parent's state (one batch row each) and its own state is kept for its children."""
        trials = state if isinstance(state, LSTMTrials) else LSTMTrials(state, [])
        starts = [trials.base if parent is None else trials.states[parent] for parent in parents]
        h = torch.cat([start[0] for start in starts], dim=1)  # (layers, T, H)
        c = torch.cat([start[1] for start in starts], dim=1)
        logits, (h, c) = self._run(torch.tensor(list(tokens), dtype=torch.long)[:, None], (h, c))
        trials.states += [(h[:, row:row + 1], c[:, row:row + 1]) for row in range(len(tokens))]
        return logits[:, -1], trials

    @staticmethod
    def commit_trial(state: LSTMTrials, trial: int) -> LSTMState:
        """The state after trial token ``trial`` (and its ancestors) becomes the state."""
        return state.states[trial]


@dataclass
class LSTMTrials:
    """The state before the trial tokens, and the state after each of them."""

    base: LSTMState
    states: list[LSTMState]
