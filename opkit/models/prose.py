"""PROSE: a multimodal transformer that predicts a trajectory and its governing equation together."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted

from .._validation import align_samples
from ..estimator import CORE_PARAMS, OpkitEstimator, params_doc, store_params
from ..layers.prose import PROSENetwork
from ..outputs import relative_euclidean_error
from ..training import FieldSource, resolve_device
from . import _symbols as S

__all__ = ["PROSE", "prose_windows"]

_OUTPUTS = ("infix", "prefix", "sympy")


def prose_windows(data, n_input_times=None):
    """Split a :mod:`solvers.odes` dataset into PROSE's ``(X, y)``: observed window and future.

    Parameters
    ----------
    data : xarray.Dataset
        With ``state`` (sample, time, component) and ``equation`` (and
        optionally ``equation_prefix``).
    n_input_times : int, optional
        Leading times observed; default read from the ``time_windows``
        attribute the generator writes (``time[:64]``), else a third.

    Returns
    -------
    X : xarray.Dataset
        ``state`` on the observed times.
    y : xarray.Dataset
        ``state`` on the later times, ``equation`` (and ``equation_prefix``).
    """
    if n_input_times is None:
        n_input_times = _window_length(data.attrs) or data.sizes["time"] // 3
    n = int(n_input_times)
    X = data[["state"]].isel(time=slice(0, n))
    keep = ["state"] + [v for v in ("equation", "equation_prefix") if v in data]
    y = data[keep].isel(time=slice(n, None))
    return X, y


def _window_length(attrs):
    text = str(attrs.get("time_windows", ""))
    if "time[:" in text:
        try:
            return int(text.split("time[:")[1].split("]")[0])
        except ValueError:
            return None
    return None


def _observed(X):
    """X cut to the observed window its ``time_windows`` attribute names (a whole :mod:`solvers.odes` file)."""
    if isinstance(X, (xr.Dataset, xr.DataArray)) and "time" in X.dims:
        n = _window_length(X.attrs)
        if n is not None and X.sizes["time"] > n:
            return X.isel(time=slice(0, n))
    return X


def _times(obj, what):
    if "time" not in obj.coords:
        raise ValueError(f"{what} has no 'time' coordinate: PROSE reads the sample times from it")
    t = np.asarray(obj["time"].values, dtype=np.float64)
    if not np.isfinite(t).all():
        raise ValueError(f"{what}'s time coordinate has {int((~np.isfinite(t)).sum())} NaN or infinite value(s)")
    if len(t) > 1 and not (np.diff(t) > 0).all():
        k = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ValueError(f"{what}'s times must increase strictly; time[{k + 1}] = {t[k + 1]} follows {t[k]}")
    return t


def _state(obj, what):
    """``(values (n, T, d), times (T,), DataArray)`` of ``state`` (sample, time, component)."""
    if isinstance(obj, xr.Dataset):
        if "state" not in obj:
            raise ValueError(f"{what} must hold a 'state' variable (sample, time, component); it holds {list(obj.data_vars)}")
        da = obj["state"]
    elif isinstance(obj, xr.DataArray):
        da = obj
    else:
        raise TypeError(f"{what} must be an xarray Dataset or DataArray with dims (sample, time, component), "
                        f"got {type(obj).__name__}")
    if set(da.dims) != {"sample", "time", "component"}:
        raise ValueError(f"{what}'s state must have dims (sample, time, component); got {tuple(da.dims)}")
    da = da.transpose("sample", "time", "component")
    values = np.asarray(da.values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{what}'s state contains {int((~np.isfinite(values)).sum())} NaN or infinite value(s)")
    return values, _times(da, what), da


def _equation_tokens(y, vocab, dim):
    """Prefix token lists of ``y``'s equations (``equation_prefix``, else ``equation`` as prefix or infix)."""
    if "equation_prefix" in y:
        texts, kind = [str(v) for v in y["equation_prefix"].values], "prefix"
    elif "equation" in y:
        texts, kind = [str(v) for v in y["equation"].values], None
    else:
        raise ValueError("y must hold 'equation' (sample,): the vector field as infix text, prefix tokens or sympy")
    out = []
    for k, text in enumerate(texts):
        words = text.split()
        if kind == "prefix" or all(w in vocab.index for w in words):
            S.prefix_to_sympy(words, dim)  # checks it parses
            out.append(words)
        else:
            try:
                out.append(S.infix_to_prefix(text, dim))
            except ValueError as exc:
                raise ValueError(f"y's equation of sample {k} cannot be tokenised: {exc}") from None
    return out


def _pad(seqs, length=None):
    length = max(len(s) for s in seqs) if length is None else length
    out = np.zeros((len(seqs), length), dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return torch.from_numpy(out)


class _PROSEStep:
    """Loss of one batch: data_weight * relative squared error at the query times + token cross-entropy."""

    def __init__(self, data_weight, noise, seed):
        self.data_weight, self.noise = float(data_weight), float(noise)
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, module, batch):
        data, mask = batch["data"], batch["mask"]
        if self.noise > 0 and module.training:
            values = data[..., 1:]
            scale = values.pow(2).mean((1, 2), keepdim=True).sqrt()
            eps = torch.randn(values.shape, generator=self.generator).to(values.device, values.dtype)
            data = torch.cat([data[..., :1], values + self.noise * scale * eps * mask[:, None]], -1)
        ids = batch["equation"]
        out = module(data, batch["stats"], batch["query"], batch.get("skeleton"), ids[:, :-1])
        mean, std = batch["stats"][:, None, : mask.shape[1]], batch["stats"][:, None, mask.shape[1]:].exp()
        pred = (out["state"] * std + mean) * mask[:, None]
        target = batch["target"]
        rel = ((pred - target).pow(2).sum((1, 2)) / target.pow(2).sum((1, 2)).clamp_min(1e-12)).mean()
        logits = out["logits"]
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=0)
        return {"data": self.data_weight * rel, "tokens": ce}


class PROSE(OpkitEstimator):
    __doc__ = f"""PROSE: trajectories at any future times and the governing equation, from one observed window.

    A multimodal transformer (Liu, Sun, Schaeffer et al. 2023) reads the
    observed samples ``(t_i, u(t_i))`` of a trajectory of
    :math:`\\dot u = f(u)` (any, possibly irregular, increasing times) and,
    optionally, a noisy skeleton of :math:`f` (its prefix tokens with
    ``<PLACEHOLDER>`` for the constants). It returns the state at arbitrary
    query times (all at once) and decodes :math:`f` with its constants as
    prefix tokens (PROSE's vocabulary, :mod:`opkit.models._symbols`), shown
    as infix text or sympy expressions. Trained on the chaotic families of
    :mod:`solvers.odes` (see :func:`prose_windows`).

    Parameters
    ----------
    d_max : int, default=3
        Largest state dimension (data tokens are zero-padded to it).
    d_model, n_heads, dim_feedforward : int, default=64, 4, 256
        Width, attention heads and feed-forward width of every layer
        (the note's "tiny" model; PROSE's published one is 512, 8, 2048).
    n_layers : tuple of 5 int, default=(1, 1, 2, 2, 2)
        Layers of the data encoder, symbol encoder, fusion, data decoder and
        symbol decoder.
    use_skeleton : bool, default=True
        Feed a skeleton of the equation to the symbol encoder. ``False`` is
        the data-only ablation. In ``fit`` the skeleton is ``X["skeleton"]``
        when given, else the true equation's, corrupted by term deletion and
        addition (``p_delete``, ``p_add``); ``predict`` uses ``X["skeleton"]``
        when given, else none.
    data_weight : float, default=6.0
        Weight of the data loss (relative squared error at the query times)
        against the token cross-entropy.
    noise : float, default=0.02
        Gaussian noise added to the observed states in training, relative to
        each sequence's RMS.
    p_add, p_delete : float, default=0.15, 0.15
        Per-component probability of adding / deleting a term of the training skeletons.
    dropout : float, default=0.0
    max_length : int, default=128
        Longest decoded equation, in tokens (decoding also stops at 1.5 times
        the longest training equation).
    {params_doc(CORE_PARAMS)}
    Attributes
    ----------
    vocab_ : opkit.models._symbols.SymbolVocabulary
        Token list and ids (saved as JSON).
    time_scale_ : float
        Times enter the network as ``(t - t_first_observed) / time_scale_``.
    n_components_ : int
        State dimension d of the training data.
    model_, history_, n_params_, device_
        As every opkit estimator.

    Notes
    -----
    States are standardised per sample and component with the observed
    window's mean and standard deviation (one extra data token carries
    them), so families of very different amplitude share one model; the
    data decoder predicts standardised states.
    """

    output_kind = "series"

    def __init__(self, d_max=3, d_model=64, n_heads=4, dim_feedforward=256, n_layers=(1, 1, 2, 2, 2), use_skeleton=True,
                 data_weight=6.0, noise=0.02, p_add=0.15, p_delete=0.15, dropout=0.0, max_length=128, *,
                 max_epochs=100, batch_size=64, learning_rate=1e-3, weight_decay=1e-4, scheduler="onecycle",
                 validation_fraction=0.1, early_stopping=False, n_iter_no_change=10, device="auto",
                 random_state=None, verbose=0, warm_start=False, checkpoint_path=None):
        store_params(self, locals())

    # -- data --------------------------------------------------------------------------------
    def _check_params(self):
        if len(tuple(self.n_layers)) != 5:
            raise ValueError(f"n_layers must give 5 layer counts (data encoder, symbol encoder, fusion, data decoder, "
                             f"symbol decoder), got {self.n_layers!r}")
        if int(self.d_model) % int(self.n_heads):
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")

    def _tokens(self, X, d_max, what="X"):
        """Data tokens (n, T, 1 + d_max), statistics (n, 2 d_max), component mask, times, DataArray."""
        values, times, da = _state(X, what)
        n, T, d = values.shape
        if d > d_max:
            raise ValueError(f"{what} has {d} components, more than the model's d_max={d_max}")
        mean = values.mean(1)
        std = values.std(1)
        std = np.where(std > 1e-8 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        z = (values - mean[:, None]) / std[:, None]
        t = (times - times[0]) / self.time_scale_
        data = np.zeros((n, T, 1 + d_max))
        data[..., 0] = t
        data[..., 1: 1 + d] = z
        stats = np.zeros((n, 2 * d_max))
        stats[:, :d], stats[:, d_max: d_max + d] = mean, np.log(std)
        mask = np.zeros((n, d_max))
        mask[:, :d] = 1
        return data, stats, mask, times, da

    def _skeleton_ids(self, X, n, d_max):
        if not isinstance(X, xr.Dataset) or "skeleton" not in X:
            return None
        ids = []
        for k, text in enumerate(X["skeleton"].values):
            words = str(text).split()
            try:
                ids.append(self.vocab_.encode(words, what=f"X's skeleton of sample {k}"))
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return ids

    # -- fit ---------------------------------------------------------------------------------
    def _rebuild_network(self):
        return PROSENetwork(int(self.d_max), len(self.vocab_), int(self.d_model), int(self.n_heads),
                            int(self.dim_feedforward), tuple(int(n) for n in self.n_layers),
                            max_symbols=int(self.max_symbols_), use_skeleton=bool(self.use_skeleton),
                            dropout=float(self.dropout))

    def _fit(self, X, y):
        self._check_params()
        d_max = int(self.d_max)
        y = align_samples(X, y)
        X = _observed(X)
        if not isinstance(y, xr.Dataset):
            raise TypeError(f"y must be an xarray Dataset with 'state' and 'equation', got {type(y).__name__}")
        warm = self.warm_start and hasattr(self, "model_")
        x_values, x_times, _ = _state(X, "X")
        y_values, y_times, _ = _state(y, "y")
        if x_values.shape[0] != y_values.shape[0]:
            raise ValueError(f"X has {x_values.shape[0]} samples, y {y_values.shape[0]}")
        if x_values.shape[2] != y_values.shape[2]:
            raise ValueError(f"X has {x_values.shape[2]} components, y {y_values.shape[2]}")
        if y_times[0] < x_times[0]:
            raise ValueError(f"y's query times start at {y_times[0]}, before X's observed window (from {x_times[0]})")
        if not warm:
            self.vocab_ = S.SymbolVocabulary(d_max)
            self.time_scale_ = float(max(y_times[-1], x_times[-1]) - x_times[0]) or 1.0
        dim = x_values.shape[2]
        data, stats, mask, _, _ = self._tokens(X, d_max)
        eqs = _equation_tokens(y, self.vocab_, dim)
        eq_ids = [self.vocab_.encode(e, what="y's equation") for e in eqs]
        seed = self._seed()
        rng = np.random.default_rng(seed)
        fields = dict(data=torch.as_tensor(data, dtype=torch.float32), stats=torch.as_tensor(stats, dtype=torch.float32),
                      mask=torch.as_tensor(mask, dtype=torch.float32))
        n = len(data)
        q = (y_times - x_times[0]) / self.time_scale_
        fields["query"] = torch.as_tensor(np.broadcast_to(q, (n, len(q))).copy(), dtype=torch.float32)
        target = np.zeros((n, len(q), d_max))
        target[..., :dim] = y_values
        fields["target"] = torch.as_tensor(target, dtype=torch.float32)
        skel_len = 0
        if self.use_skeleton:
            given = self._skeleton_ids(X, n, d_max)
            if given is None:
                given = [self.vocab_.encode(S.corrupt_skeleton(S.skeleton(e), rng, dim, float(self.p_add),
                                                               float(self.p_delete))) for e in eqs]
            fields["skeleton"] = _pad(given)
            skel_len = fields["skeleton"].shape[1]
        longest = max(max(len(s) for s in eq_ids), skel_len)
        if not warm:
            # Decoding stops at EOS or at 1.5 x the longest training equation (and max_length).
            self.max_tokens_ = int(min(int(self.max_length), 1.5 * max(len(s) for s in eq_ids) + 4))
            self.max_symbols_ = int(max(longest, self.max_tokens_) + 2)
        elif longest > self.max_symbols_:
            raise ValueError(f"the equations hold {longest} tokens, more than the fitted max_symbols_={self.max_symbols_}")
        fields["equation"] = _pad(eq_ids)
        self.n_components_ = dim
        generator, device = self._generator(seed), resolve_device(self.device)
        network = self.model_ if warm else self._init_network(self._rebuild_network, seed)
        network = network.to(device)
        source = FieldSource(**fields)
        train_idx, val_idx = self._split_validation(len(source), generator)
        step = _PROSEStep(self.data_weight, self.noise, seed + 1)
        self._run_stage("fit", network, source.subset(train_idx), step=step, generator=generator, device=device,
                        val_source=source.subset(val_idx) if len(val_idx) else None,
                        history=self.history_ if warm and hasattr(self, "history_") else None)
        self._set_network(network, device)
        return self

    # -- predict -------------------------------------------------------------------------------
    def _encoded(self, X):
        check_is_fitted(self, "model_")
        X = _observed(X)
        d_max = int(self.d_max)
        data, stats, mask, times, da = self._tokens(X, d_max)
        if self.use_skeleton:
            ids = self._skeleton_ids(X, len(data), d_max)
            skeleton = _pad(ids) if ids is not None else None
        else:
            skeleton = None
        dtype = next(self.model_.parameters()).dtype
        as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=self.device_)  # noqa: E731
        return as_t(data), as_t(stats), skeleton if skeleton is None else skeleton.to(self.device_), times, da

    def _batches(self, n):
        size = max(1, int(self.batch_size))
        return [slice(i, min(n, i + size)) for i in range(0, n, size)]

    @torch.no_grad()
    def predict(self, X, query_times=None):
        """The trajectory at ``query_times``, from the observed window ``X``.

        Parameters
        ----------
        X : xarray.Dataset or DataArray
            ``state`` (sample, time, component) on the observed times, and
            optionally ``skeleton`` (sample,): prefix tokens with
            ``<PLACEHOLDER>`` constants.
        query_times : array-like of float, xarray object with a ``time`` coordinate
            Times to predict at, none before X's first time. Default: X's own
            times. A whole :mod:`solvers.odes` file (its ``time_windows``
            attribute) is observed on its window only, as in ``fit``.

        Returns
        -------
        xarray.Dataset or xarray.DataArray
            ``state`` (sample, time, component), with ``time`` = the query
            times (a Dataset when X is one).

        Raises
        ------
        ValueError
            Non-increasing or non-finite times, query times before the
            window, more components than ``d_max``, an unknown skeleton token.
        """
        check_is_fitted(self, "model_")
        data, stats, skeleton, times, da = self._encoded(X)
        if query_times is None:
            q = _times(X, "X")
        elif isinstance(query_times, (xr.DataArray, xr.Dataset)) and "time" in query_times.coords:
            q = _times(query_times, "query_times")
        else:
            q = np.asarray(query_times, dtype=np.float64).reshape(-1)
            if not np.isfinite(q).all():
                raise ValueError(f"query_times has {int((~np.isfinite(q)).sum())} NaN or infinite value(s)")
        if len(q) == 0:
            raise ValueError("query_times is empty")
        if q.min() < times[0]:
            raise ValueError(f"query_times start at {q.min()}, before X's observed window [{times[0]}, {times[-1]}]")
        d = da.sizes["component"]
        self.model_.eval()
        out = []
        qt = torch.as_tensor((q - times[0]) / self.time_scale_, dtype=data.dtype, device=data.device)
        for b in self._batches(len(data)):
            sk = None if skeleton is None else skeleton[b]
            fused, mask, n_data = self.model_.encode(data[b], stats[b], sk)
            z = self.model_.decode_data(fused, n_data, qt.expand(len(data[b]), -1))
            st = stats[b]
            out.append((z[..., :d] * st[:, None, int(self.d_max): int(self.d_max) + d].exp()
                        + st[:, None, :d]).cpu().numpy())
        values = np.concatenate(out).astype(np.float64)
        coords = {"sample": da["sample"].values if "sample" in da.coords else np.arange(len(values)),
                  "time": q, "component": da["component"].values if "component" in da.coords else np.arange(d)}
        out = xr.DataArray(values, dims=("sample", "time", "component"), coords=coords, name="state",
                           attrs=dict(da.attrs))
        return out.to_dataset() if isinstance(X, xr.Dataset) else out

    @torch.no_grad()
    def _decode_ids(self, fused, mask, beam_size):
        vocab, model = self.vocab_, self.model_
        n, limit = fused.shape[0], min(self.max_tokens_, model.max_symbols - 1)
        if beam_size <= 1:
            ids = torch.full((n, 1), vocab.bos, dtype=torch.long, device=fused.device)
            done = torch.zeros(n, dtype=torch.bool, device=fused.device)
            for _ in range(limit):
                logits = model.decode_symbols(fused, mask, ids)[:, -1]
                logits[:, [vocab.pad, vocab.bos]] = -torch.inf
                nxt = torch.where(done, torch.full_like(done, vocab.pad, dtype=torch.long), logits.argmax(-1))
                ids = torch.cat([ids, nxt[:, None]], 1)
                done |= nxt == vocab.eos
                if done.all():
                    break
            return [vocab.decode(row.tolist()) for row in ids]
        return [self._beam(fused[i: i + 1], mask[i: i + 1], int(beam_size), limit) for i in range(n)]

    def _beam(self, fused, mask, k, limit):
        """Beam search for one sample: the finished sequence of highest mean log-probability."""
        vocab, model = self.vocab_, self.model_
        beams = [([vocab.bos], 0.0)]
        finished = []
        for _ in range(limit):
            ids = torch.tensor([b[0] for b in beams], device=fused.device)
            logp = model.decode_symbols(fused.expand(len(beams), -1, -1), mask.expand(len(beams), -1), ids)[:, -1]
            logp = torch.log_softmax(logp.float(), -1)
            logp[:, [vocab.pad, vocab.bos]] = -torch.inf
            top = torch.topk(logp, k, dim=-1)
            candidates = [(beams[i][0] + [int(t)], beams[i][1] + float(v))
                          for i in range(len(beams)) for v, t in zip(top.values[i], top.indices[i])]
            candidates.sort(key=lambda c: -c[1])
            beams = []
            for seq, score in candidates[:k]:  # the k best continuations, finished or not
                if seq[-1] == vocab.eos:
                    finished.append((seq, score / (len(seq) - 1)))
                else:
                    beams.append((seq, score))
            if not beams:
                break
        pool = finished or [(seq, score / (len(seq) - 1)) for seq, score in beams]
        return vocab.decode(max(pool, key=lambda c: c[1])[0])

    @torch.no_grad()
    def predict_symbolic(self, X, beam_size=1, output="infix"):
        """The governing equation of each trajectory, decoded with its constants.

        Parameters
        ----------
        X : as in :meth:`predict`
        beam_size : int, default=1
            1 is greedy decoding; more keeps that many hypotheses (beam search).
        output : {"infix", "prefix", "sympy"}, default="infix"
            Infix text ``"f_0 | f_1 | ..."`` (sympy's printing), the prefix
            tokens as one string, or a list of sympy expressions.

        Returns
        -------
        list
            One entry per sample; ``None`` where the decoded tokens are not
            a valid vector field of X's dimension.
        """
        check_is_fitted(self, "model_")
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
        if int(beam_size) < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size!r}")
        data, stats, skeleton, _, da = self._encoded(X)
        d = da.sizes["component"]
        self.model_.eval()
        words = []
        for b in self._batches(len(data)):
            fused, mask, _ = self.model_.encode(data[b], stats[b], None if skeleton is None else skeleton[b])
            words.extend(self._decode_ids(fused, mask, int(beam_size)))
        out = []
        for w in words:
            try:
                exprs = S.prefix_to_sympy(w, d)
            except ValueError:
                out.append(None)
                continue
            out.append(" ".join(w) if output == "prefix" else exprs if output == "sympy"
                       else " | ".join(str(e) for e in exprs))
        return out

    # -- scores --------------------------------------------------------------------------------
    def score(self, X, y, sample_weight=None):
        """One minus the mean relative L2 error of the trajectory at y's times (higher is better).

        Parameters
        ----------
        X : as in :meth:`predict`
        y : xarray.Dataset or DataArray
            ``state`` (sample, time, component) at the query times.
        sample_weight : None

        Returns
        -------
        float
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by opkit estimators")
        y = align_samples(X, y)
        values, times, da = _state(y, "y")
        return 1.0 - relative_euclidean_error(_state(self.predict(X, times), "prediction")[2], da)

    def score_symbolic(self, X, y, beam_size=1):
        """Valid fraction, expression error and data error of the decoded equations and trajectories.

        Parameters
        ----------
        X : as in :meth:`predict`
        y : xarray.Dataset
            ``state`` at the query times and ``equation`` (the true vector fields).
        beam_size : int, default=1

        Returns
        -------
        dict
            ``valid_fraction`` (decoded sequences that are vector fields of
            the right dimension), ``expr_rel_err`` and ``expr_rel_err_median``
            (over the valid ones: relative L2 between the decoded and true
            vector fields at X's observed states), ``data_rel_err`` (mean
            relative L2 of the trajectory at y's times) and ``n_samples``.
        """
        check_is_fitted(self, "model_")
        y = align_samples(X, y)
        x_values, _, _ = _state(_observed(X), "X")
        dim = x_values.shape[2]
        truth = [S.prefix_to_sympy(t, dim) for t in _equation_tokens(y, self.vocab_, dim)]
        decoded = self.predict_symbolic(X, beam_size=beam_size, output="sympy")
        errors = []
        for k, (got, true) in enumerate(zip(decoded, truth)):
            if got is None:
                continue
            f_true = S.evaluate_field(true, x_values[k])
            f_got = S.evaluate_field(got, x_values[k])
            err = np.linalg.norm(f_got - f_true) / max(np.linalg.norm(f_true), 1e-12)
            errors.append(float(err) if np.isfinite(err) else np.inf)
        errors = np.asarray(errors)
        values, times, da = _state(y, "y")
        data_err = relative_euclidean_error(_state(self.predict(X, times), "prediction")[2], da)
        return {"valid_fraction": len(errors) / len(decoded),
                "expr_rel_err": float(np.mean(errors)) if len(errors) else float("nan"),
                "expr_rel_err_median": float(np.median(errors)) if len(errors) else float("nan"),
                "data_rel_err": float(data_err), "n_samples": len(decoded)}

    # -- persistence ------------------------------------------------------------------------------
    def _extra_state(self):
        return {"prose_vocab": self.vocab_.to_dict(), "prose_time_scale": self.time_scale_,
                "prose_max_symbols": self.max_symbols_, "prose_max_tokens": self.max_tokens_,
                "prose_n_components": self.n_components_}, {}

    def _set_extra_state(self, meta, tensors):
        self.vocab_ = S.SymbolVocabulary.from_dict(meta["prose_vocab"])
        self.time_scale_ = float(meta["prose_time_scale"])
        self.max_symbols_ = int(meta["prose_max_symbols"])
        self.max_tokens_ = int(meta["prose_max_tokens"])
        self.n_components_ = int(meta["prose_n_components"])
