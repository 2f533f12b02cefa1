"""Decoder-only Transformer (pre-norm, learned or rotary positions, tied embeddings, KV cache).

Training calls ``forward(idx, targets)`` and gets ``(logits, loss)``.
Generation calls ``step(idx, state)`` with a :class:`KVCache`: the prompt once
("prefill"), then one token at a time, each step attending to cached keys and
values instead of recomputing the whole sequence.

Out of training (``eval()``), ``forward`` and ``step`` take a lean path: the
same functional operations in the same order as the modules, on weights
gathered once, without an ``nn.Module`` call per operation (a one-token step is
a few dozen tiny operations, and the module machinery around each cost as much
as the arithmetic). ``forward`` gives the modules' numbers bit for bit; cached
steps use PyTorch's GELU rather than oneDNN's and agree to within 1e-5.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from composer.ml.config import ModelConfig


@contextlib.contextmanager
def _aten_kernels() -> Iterator[None]:
    """PyTorch's own CPU kernels instead of oneDNN's inside: oneDNN's GELU spends about
    25 us setting up for one (1, 4C) row, PyTorch's takes 3 us, four times a token.
    The two GELUs differ in the last bit (logits move by under 1e-5). The switch is
    process-wide while it is held, like ``torch.set_num_threads``; other threads only
    meet the same arithmetic through different kernels."""
    enabled = torch.backends.mkldnn.enabled
    # The stubs type the flag as its descriptor; assigning a bool is the documented use.
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = enabled


def rotary_tables(config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of each position's angles (block_size, head_dim / 2) for RoPE."""
    half = config.n_embd // config.n_head // 2
    inv_freq = 1.0 / (10000.0 ** (torch.arange(half, dtype=torch.float32) / half))
    angles = torch.arange(config.block_size, dtype=torch.float32)[:, None] * inv_freq[None]
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Turn each (first half, second half) pair of ``x``'s last dimension by the angles
    whose cos and sin broadcast against it."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)


class KVCache:
    """Keys and values of every layer, preallocated to the context length."""

    def __init__(self, config: ModelConfig, batch_size: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        head_dim = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0
        # Tokens fed on trial past ``length`` (see ``Transformer.try_tokens``): each
        # one's (parent trial or None for the committed end, depth past ``length``).
        self.trials: list[tuple[int | None, int]] = []
        self._layers = [(self.k[i], self.v[i]) for i in range(config.n_layer)]

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Views of one layer's keys and values (B, H, L, D), made once."""
        return self._layers[index]

    def select(self, rows: torch.Tensor) -> None:
        """Keep only some batch rows, repeated or reordered (to fork one prompt into
        variations, or candidates during a search). Only the filled positions are
        copied: the rest is written before it is ever read."""
        layers, _, heads, block, dim = self.k.shape
        shape = (layers, len(rows), heads, block, dim)
        k = torch.empty(shape, dtype=self.k.dtype, device=self.k.device)
        v = torch.empty(shape, dtype=self.v.dtype, device=self.v.device)
        n = self.length
        # Row by row, plain strided copies: advanced indexing was about 5x slower.
        for i, row in enumerate(rows.tolist()):
            k[:, i].narrow(2, 0, n).copy_(self.k[:, row].narrow(2, 0, n))
            v[:, i].narrow(2, 0, n).copy_(self.v[:, row].narrow(2, 0, n))
        self.k, self.v = k, v
        self.trials = []
        self._layers = [(self.k[i], self.v[i]) for i in range(layers)]

    def trial_path(self, trial: int) -> list[int]:
        """The trials from the committed end to ``trial``: its ancestors, then itself."""
        path = []
        node: int | None = trial
        while node is not None:
            path.append(node)
            node = self.trials[node][0]
        return path[::-1]

    def keep_trial(self, trial: int) -> None:
        """Commit a trial token and its ancestors: their keys and values move to the
        slots after ``length`` (a path's slots only grow, so moving them in order never
        overwrites one still to move), and the other trials are dropped."""
        path = self.trial_path(trial)
        for depth, slot in enumerate(path):
            if slot != depth:
                for cache in (self.k, self.v):  # (layers, B, heads, block, dim)
                    cache[:, :, :, self.length + depth] = cache[:, :, :, self.length + slot]
        self.length += len(path)
        self.trials = []


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.layer = layer
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None = None,
                rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        if rotary is not None:  # (T, D/2) each: this step's positions
            q, k = rotate(q, *rotary), rotate(k, *rotary)
        if cache is None:
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        else:
            start = cache.length
            cache.k[self.layer, :, :, start:start + T] = k
            cache.v[self.layer, :, :, start:start + T] = v
            keys = cache.k[self.layer, :, :, :start + T]  # (B, H, S, D)
            values = cache.v[self.layer, :, :, :start + T]  # (B, H, S, D)
            if T == 1:
                y = F.scaled_dot_product_attention(q, keys, values)
            else:
                # Query i (absolute position start+i) sees keys 0..start+i.
                allowed = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(start)
                y = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None = None,
                rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, rotary)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.rotary = config.positions == "rotary"
        self.pos_emb = None if self.rotary else nn.Embedding(config.block_size, config.n_embd)
        cos, sin = rotary_tables(config)  # derived, not weights: not in the state dict
        self.register_buffer("rotary_cos", cos, persistent=False)
        self.register_buffer("rotary_sin", sin, persistent=False)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied: one table for reading and writing tokens
        self._packed: tuple | None = None  # weights for the lean path, see _packed_weights
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                # Residual branches start small so the stack begins near identity.
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self._run(idx, None)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1),
                                   ignore_index=ignore_index)
        return logits, loss

    def _run(self, idx: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds the context of "
                             f"{self.config.block_size}")
        if not self.training:
            return self._run_lean(idx, cache, start)
        x = self.tok_emb(idx)  # (B, T, C)
        rotary = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + T, device=idx.device))
        else:
            rotary = (self.rotary_cos[start:start + T], self.rotary_sin[start:start + T])
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, cache, rotary)
        if cache is not None:
            cache.length += T
        return self.head(self.ln_f(x))  # (B, T, V)

    def _run_lean(self, idx: torch.Tensor, cache: KVCache | None, start: int,
                  trial: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``_run`` without dropout or module calls: the operations of ``Block`` and
        ``CausalSelfAttention`` spelled out, in the same order and with the same kernels
        (``F.linear`` on a contiguous input is ``addmm(bias, x, weight.t())`` on rows),
        on the packed weights; steps with a cache take PyTorch's GELU (``_aten_kernels``).
        Each call here is a dispatch that costs about as much as a small layer's
        arithmetic, so rows stay 2-D and views are made once.

        ``trial`` (positions (T,), attention mask (T, start + T)) feeds tokens on trial
        (``try_tokens``): written to the cache from slot ``start`` without committing."""
        B, T = idx.shape
        C = self.config.n_embd
        tok_emb, tok_emb_t, pos_emb, layers, (lnf_w, lnf_b) = self._packed_weights()
        x = F.embedding(idx.reshape(-1), tok_emb).view(B, T, C)
        if pos_emb is not None:
            x.add_(pos_emb[start:start + T] if trial is None else pos_emb[trial[0]])
        x = x.view(B * T, C)  # (B*T, C)
        with _aten_kernels() if cache is not None else contextlib.nullcontext():
            x = self._layers_lean(x, B, T, cache, start, layers, trial)
        if cache is not None and trial is None:
            cache.length += T
            cache.trials = []  # this step wrote over their slots
        return torch.mm(F.layer_norm(x, (C,), lnf_w, lnf_b), tok_emb_t).view(B, T, -1)  # (B, T, V)

    def _layers_lean(self, x: torch.Tensor, B: int, T: int, cache: KVCache | None, start: int,
                     layers: tuple, trial: tuple[torch.Tensor, torch.Tensor] | None = None
                     ) -> torch.Tensor:
        C, H = self.config.n_embd, self.config.n_head
        D = C // H
        if self.rotary:  # (T, 1, 1, D/2): broadcast over the batch's (q|k, head) rows
            at = slice(start, start + T) if trial is None else trial[0]
            cos = self.rotary_cos[at, None, None]
            sin = self.rotary_sin[at, None, None]
        for layer, (ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b,
                    ln2_w, ln2_b, fc_w, fc_b, out_w, out_b) in enumerate(layers):
            h = F.layer_norm(x, (C,), ln1_w, ln1_b)
            qkv = torch.addmm(qkv_b, h, qkv_w).view(B, T, 3, H, D)  # (B, T, 3, H, D)
            if self.rotary:  # queries and keys turned together: one set of operations
                turned = rotate(qkv[:, :, :2], cos, sin)  # (B, T, 2, H, D)
                q, k = turned.permute(2, 0, 3, 1, 4).unbind(0)  # 2 x (B, H, T, D)
                v = qkv[:, :, 2].transpose(1, 2)  # (B, H, T, D)
            else:
                q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, T, D)
            if cache is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                cache_k, cache_v = cache.layer(layer)  # (B, H, L, D)
                cache_k.narrow(2, start, T).copy_(k)
                cache_v.narrow(2, start, T).copy_(v)
                keys, values = cache_k.narrow(2, 0, start + T), cache_v.narrow(2, 0, start + T)
                if trial is not None:
                    y = F.scaled_dot_product_attention(q, keys, values, attn_mask=trial[1])
                elif T == 1:
                    y = F.scaled_dot_product_attention(q, keys, values)  # (B, H, S, D) keys
                else:
                    allowed = torch.ones(T, start + T, dtype=torch.bool,
                                         device=x.device).tril(start)
                    y = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed)
            y = y.transpose(1, 2).reshape(B * T, C)  # (B*T, C)
            x = x + torch.addmm(proj_b, y, proj_w)
            h = F.layer_norm(x, (C,), ln2_w, ln2_b)
            x = x + torch.addmm(out_b, F.gelu(torch.addmm(fc_b, h, fc_w)), out_w)
        return x

    def _packed_weights(self) -> tuple:
        """The weights in the order ``_run_lean`` reads them, gathered once: the same
        tensors or transposed views of them, not copies (training or loading a state
        dict updates them in place)."""
        if self._packed is None:
            layers = []
            for block in self.blocks:
                assert isinstance(block, Block)
                attn, fc, out = block.attn, block.mlp[0], block.mlp[2]
                assert isinstance(fc, nn.Linear) and isinstance(out, nn.Linear)
                layers.append((block.ln_1.weight, block.ln_1.bias, attn.qkv.weight.t(),
                               attn.qkv.bias, attn.proj.weight.t(), attn.proj.bias,
                               block.ln_2.weight, block.ln_2.bias, fc.weight.t(), fc.bias,
                               out.weight.t(), out.bias))
            pos_emb = None if self.pos_emb is None else self.pos_emb.weight
            self._packed = (self.tok_emb.weight, self.tok_emb.weight.t(), pos_emb,
                            tuple(layers), (self.ln_f.weight, self.ln_f.bias))
        return self._packed

    def _apply(self, fn, *args, **kwargs):
        # Moving or casting the model may replace its tensors: gather them again.
        self._packed = None
        return super()._apply(fn, *args, **kwargs)

    def new_state(self, batch_size: int) -> KVCache:
        param = next(self.parameters())
        return KVCache(self.config, batch_size, param.device, param.dtype)

    def step(self, idx: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Logits (B, T, V) for new tokens ``idx`` (B, T), extending the cache."""
        return self._run(idx, state), state

    @staticmethod
    def fork_state(state: KVCache, rows: torch.Tensor) -> KVCache:
        state.select(rows)
        return state

    @torch.no_grad()
    def try_tokens(self, state: KVCache, tokens: Sequence[int],
                   parents: Sequence[int | None]) -> tuple[torch.Tensor, KVCache]:
        """Logits (T, V) after each of ``tokens`` fed on trial, in one step of one row:
        token i follows trial ``parents[i]`` (an index among the trials since the last
        commit) or, for None, the committed sequence. It attends to the committed
        sequence, its ancestors and itself, at the position it would have there. A
        search weighs several continuations this way while their shared past is read
        once (one batch row per candidate read the whole cache once each).
        ``commit_trial`` keeps one; ``step`` drops them all."""
        if self.training:
            raise RuntimeError("try_tokens is for generation (call eval() first)")
        first, length, T = len(state.trials), state.length, len(tokens)
        end = length + first + T
        if end > self.config.block_size:
            raise ValueError(f"sequence of {end} tokens exceeds the context of "
                             f"{self.config.block_size}")
        for parent in parents:
            state.trials.append((parent, 0 if parent is None else state.trials[parent][1] + 1))
        sees = torch.zeros(T, end, dtype=torch.bool)
        sees[:, :length] = True
        for row in range(T):
            sees[row, [length + node for node in state.trial_path(first + row)]] = True
        positions = torch.tensor([length + state.trials[first + row][1] for row in range(T)])
        idx = torch.tensor([list(tokens)], dtype=torch.long)
        logits = self._run_lean(idx, state, length + first, (positions, sees))
        return logits[0], state

    @staticmethod
    def commit_trial(state: KVCache, trial: int) -> KVCache:
        """The trial token ``trial`` and its ancestors join the committed sequence."""
        state.keep_trial(trial)
        return state
