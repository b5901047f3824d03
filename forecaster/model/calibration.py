"""How far to trust the network, and how wide the intervals are: decided on the pool's evidence, each ticker's own
evidence partially pooled toward it (forecaster.model.shrinkage), never on a few hundred of one ticker's days alone.

For each ticker, from the network's outputs (m_t, s_t) on windows ending at t, its baseline σ_t and its returns, with
y_t = r_{t+1} / σ_t the next return in baseline units:

1. the network share of the mean, α: the least-squares factor of y on m through the origin, on the ticker's
   held-out ("judge") windows, with its sampling variance. Pooled, its mean is discounted by its own uncertainty
   (positive-part James-Stein: an insignificant pooled signal gives 0, the naive forecast), its variance counted by
   dates rather than ticker-days (the tickers judged on one day move together: `date_design_effect`); then each
   ticker's estimate is shrunk toward it and clipped to [0, 1];
2. the network share of the scale, λ: σ_t exp(λ s_t) is the forecast volatility (λ = 0: the baseline alone). The
   Student-t likelihood of the judge windows' errors y - α m is profiled over λ in SCALE_GRID (each λ with its
   maximum-likelihood overall scale); the curvature at the best λ gives its variance. Pooled, shrunk, clipped;
3. the persistence φ of the variance path, v_h = m_t + φ^(h-1) (v_1 - m_t) with v_1 = σ_t² exp(2 λ s_t) and m_t the
   EWMA(0.99) of σ² (where volatility has lately been: the long-run level the path returns to). Profiled by the
   QLIKE of 5- and 20-day returns over the recent windows (every CALIBRATION_STRIDE-th), scale profiled out;
4. the quantiles of the errors of the h-day return standardised by sqrt(V_h), V_h = Σ_{j<=h} v_j, at h = 1, 5, 20,
   for each tail probability p of TAIL_PROBABILITIES (lower tail at p, upper at 1 - p): each ticker's empirical
   quantile over its most recent CALIBRATION_WINDOWS windows, with the sampling variance of a quantile,
   p (1 - p) / (n_eff f(q)²) (n_eff counts overlapping h-day outcomes once per h days; f is the density of the
   Student-t fitted to the pool's errors), shrunk toward the pool's quantile. The pool's quantile is its empirical
   one shrunk toward that Student-t's (for a pool of one ticker, this is what protects a 99.8% interval from the
   four or five tail days a history holds). Quantiles are then kept in order (monotone in p, lower below upper).

A ticker that joins a trained pool without retraining it ("calibrated against the pool") gets the same, with all its
windows as held-out evidence and the pool's stored values and spreads as the targets.

Training (forecaster.model.training) computes the evidence; scipy is used for the Student-t quantiles only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from forecaster.model.shrinkage import Pooled, discounted, pool, profile, shrink_to_target
from forecaster.model.volatility import (
    PERSISTENCE_GRID,
    cumulative_variance,
    fit_degrees_of_freedom,
    fitted_scale,
    long_run_variance,
)

CALIBRATED_HORIZONS = (1, 5, 20)
TAIL_PROBABILITIES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25)
CALIBRATION_WINDOWS = 1000  # the most recent windows whose errors give a ticker's quantiles and persistence
CALIBRATION_STRIDE = 5  # every 5th of them for the multi-day outcomes, which overlap
SCALE_GRID = tuple(np.round(np.arange(0.0, 1.51, 0.05), 2))
MIN_QUANTILE_ERRORS = 20  # fewer errors than this give a ticker no quantile evidence of its own
PHI_GRID = tuple(sorted(PERSISTENCE_GRID))


@dataclass
class Evidence:
    """What the network and the data say about one ticker, on its windows ending at `ends` (N,):

    m, s (N,) the network's outputs; sigma (N,) the baseline σ_t; y (N,) r_{t+1} / σ_t; judge (N,) bool, the windows
    no fitting decision has seen; long_run (N,) m_t of the variance path; returns (n,) all the ticker's returns and
    ends the windows' last days, indices into them; dates (N,) those days' dates, where known (the pool's tickers
    are judged on the same days)."""

    ends: np.ndarray
    m: np.ndarray
    s: np.ndarray
    sigma: np.ndarray
    y: np.ndarray
    judge: np.ndarray
    long_run: np.ndarray
    returns: np.ndarray
    estimates: dict = field(default_factory=dict)  # name -> (estimate, variance) as the stages compute them
    dates: np.ndarray | None = None

    @classmethod
    def build(cls, ends, outputs, sigma_all, returns, judge, dates=None) -> Evidence:
        """From the network outputs (N, 2) at `ends`, the ticker's baseline σ (n,) and returns (n,) (and its dates
        (n,), if given)."""
        ends = np.asarray(ends)
        long_run = long_run_variance(sigma_all)[ends]
        return cls(ends, outputs[:, 0].astype(float), outputs[:, 1].astype(float), sigma_all[ends],
                   returns[ends + 1] / sigma_all[ends], np.asarray(judge, dtype=bool), long_run, returns,
                   dates=None if dates is None else np.asarray(dates)[ends])


# --------------------------------------------------------------------------------------------- per ticker
def mean_share_estimate(evidence: Evidence) -> tuple[float, float]:
    """(α̂, its variance): least squares of y on m through the origin over the judge windows."""
    m, y = evidence.m[evidence.judge], evidence.y[evidence.judge]
    denominator = float(np.dot(m, m))
    if len(m) < 3 or not denominator > 0:
        return math.nan, math.inf
    alpha = float(np.dot(m, y)) / denominator
    residual = y - alpha * m
    return alpha, float(np.dot(residual, residual)) / (len(m) - 1) / denominator


def date_design_effect(evidence: dict[str, Evidence]) -> float:
    """D = V_date / V_day ≥ 1 of the pooled least-squares mean share α = Σ m y / Σ m² over every ticker's judge
    windows, with e = y - α m:

        V_day  = Σ_i (m_i e_i)² / (Σ m²)²                  (each ticker-day independent)
        V_date = Σ_d (Σ_{i on day d} m_i e_i)² / (Σ m²)²   (clustered by date)

    On one day the tickers' returns and the network's mean outputs move together (a market-wide rebound after a fall
    is one event, however many tickers show it), so the pool holds fewer independent outcomes than ticker-days; D
    says how many fewer. 1 without dates or for a pool of one."""
    judged = [e for e in evidence.values() if e.dates is not None and np.any(e.judge)]
    if len(judged) < 2:
        return 1.0
    m = np.concatenate([e.m[e.judge] for e in judged])
    y = np.concatenate([e.y[e.judge] for e in judged])
    dates = np.concatenate([e.dates[e.judge] for e in judged])
    finite = np.isfinite(m) & np.isfinite(y)
    m, y, dates = m[finite], y[finite], dates[finite]
    if not np.dot(m, m) > 0:
        return 1.0
    score = m * (y - np.dot(m, y) / np.dot(m, m) * m)
    by_day = float(np.dot(score, score))
    _, day = np.unique(dates, return_inverse=True)
    by_date = float(np.sum(np.bincount(day, weights=score) ** 2))
    return max(1.0, by_date / by_day) if by_day > 0 else 1.0


def scale_share_estimate(evidence: Evidence, alpha: float, nu: float | None) -> tuple[float, float]:
    """(λ̂, its variance) from the Student-t (Gaussian without ν) likelihood of the judge windows' errors, profiled
    over SCALE_GRID (see the module docstring)."""
    errors = (evidence.y - alpha * evidence.m)[evidence.judge]
    s = evidence.s[evidence.judge]
    if len(errors) < 10:
        return math.nan, math.inf
    losses = [len(errors) * _profiled_nll(errors, np.exp(share * s), nu) for share in SCALE_GRID]
    return profile(SCALE_GRID, losses)


def _profiled_nll(errors: np.ndarray, scale: np.ndarray, nu: float | None) -> float:
    from forecaster.model.volatility import negative_loglik

    return negative_loglik(errors, fitted_scale(errors / scale, nu) * scale, nu)


def variance_path(evidence: Evidence, rows: np.ndarray, alpha: float, scale_share: float, persistence: float,
                  horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(the h-day mean return, V_h) from the windows `rows` (indices into the evidence), in return units, as the
    forecast makes them (serving.Model.paths): the mean is α m σ, the next session's, whatever h (the sessions after
    it add no drift)."""
    sigma = evidence.sigma[rows]
    v1 = (sigma * np.exp(scale_share * evidence.s[rows])) ** 2
    mean = alpha * evidence.m[rows] * sigma
    return mean, cumulative_variance(v1, evidence.long_run[rows], persistence, horizon)


def realised(evidence: Evidence, rows: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose h-day outcome is inside the data, r_{t+1} + ... + r_{t+h} for them)."""
    ends = evidence.ends[rows]
    inside = ends + horizon < len(evidence.returns)
    total = np.concatenate([[0.0], np.cumsum(evidence.returns)])
    ends = ends[inside]
    return rows[inside], total[ends + horizon + 1] - total[ends + 1]


def recent_rows(evidence: Evidence, horizon: int) -> np.ndarray:
    """The most recent CALIBRATION_WINDOWS windows, every CALIBRATION_STRIDE-th beyond one day (newest kept)."""
    rows = np.arange(len(evidence.ends))[-CALIBRATION_WINDOWS:]
    return rows if horizon == 1 else rows[::-1][::CALIBRATION_STRIDE][::-1]


def persistence_estimate(evidence: Evidence, alpha: float, scale_share: float) -> tuple[float, float]:
    """(φ̂, its variance): QLIKE of the 5- and 20-day returns against V_h(φ), the overall scale profiled out, over
    PERSISTENCE_GRID; each horizon's loss counts its outcomes once per h days (they overlap)."""
    losses = np.zeros(len(PHI_GRID))
    used = False
    for horizon in CALIBRATED_HORIZONS[1:]:
        rows, outcome = realised(evidence, recent_rows(evidence, horizon), horizon)
        if len(rows) < 10:
            continue
        used = True
        weight = len(rows) * min(1.0, CALIBRATION_STRIDE / horizon)
        for g, phi in enumerate(PHI_GRID):
            mean, variance = variance_path(evidence, rows, alpha, scale_share, phi, horizon)
            scale = float(np.mean((outcome - mean) ** 2 / variance))
            losses[g] += weight * (float(np.mean(np.log(scale * variance))) + 1.0)
    if not used:
        return math.nan, math.inf
    return profile(PHI_GRID, losses)


def standardised_errors(evidence: Evidence, alpha: float, scale_share: float, persistence: float,
                        horizon: int) -> np.ndarray:
    """(R_h - mean) / sqrt(V_h) over the ticker's recent windows."""
    rows, outcome = realised(evidence, recent_rows(evidence, horizon), horizon)
    mean, variance = variance_path(evidence, rows, alpha, scale_share, persistence, horizon)
    return (outcome - mean) / np.sqrt(variance)


# ------------------------------------------------------------------------------------------------ quantiles
@dataclass(frozen=True)
class TailShape:
    """The Student-t fitted to a horizon's pooled standardised errors: location, scale, ν (None: Gaussian)."""

    location: float
    scale: float
    nu: float | None

    @classmethod
    def fit(cls, z: np.ndarray) -> TailShape:
        z = np.asarray(z, dtype=float)
        z = z[np.isfinite(z)]
        if len(z) < 2:
            return cls(0.0, 1.0, None)
        location = float(np.median(z))
        nu = fit_degrees_of_freedom(z - location)
        return cls(location, fitted_scale(z - location, nu), nu)

    def quantile(self, p: np.ndarray) -> np.ndarray:
        from scipy import stats

        distribution = stats.norm if self.nu is None else stats.t(self.nu)
        return self.location + self.scale * distribution.ppf(np.asarray(p, dtype=float))

    def density(self, q: np.ndarray) -> np.ndarray:
        from scipy import stats

        distribution = stats.norm if self.nu is None else stats.t(self.nu)
        return distribution.pdf((np.asarray(q, dtype=float) - self.location) / self.scale) / self.scale

    def to_json(self) -> list:
        return [self.location, self.scale, self.nu]


def quantile_estimates(z: np.ndarray, horizon: int, shape: TailShape) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'lower': (q̂ (P,), variance (P,)), 'upper': ...}: the empirical quantiles of `z` at each tail probability and
    their sampling variances p (1 - p) / (n_eff f(q_p)²), f the fitted shape's density at its own quantile q_p (at
    the sample's own quantile it would be the density of the sample's bulk: a short sample's largest error would pass
    for a precise 99.9% quantile). Infinite with fewer than MIN_QUANTILE_ERRORS errors, and for a tail probability
    beyond the sample's reach (n_eff p < 1: no error is expected out there)."""
    p = np.asarray(TAIL_PROBABILITIES)
    out = {}
    for tail, probability in (("lower", p), ("upper", 1.0 - p)):
        if len(z) < MIN_QUANTILE_ERRORS:
            out[tail] = (np.full(len(p), np.nan), np.full(len(p), np.inf))
            continue
        estimate = np.quantile(z, probability)
        n_effective = len(z) * min(1.0, (1 if horizon == 1 else CALIBRATION_STRIDE) / horizon)
        density = np.maximum(shape.density(shape.quantile(probability)), 1e-12)
        variance = np.where(n_effective * p >= 1.0, p * (1 - p) / n_effective / density**2, np.inf)
        out[tail] = (estimate, variance)
    return out


def pooled_quantiles(errors: list[np.ndarray], horizon: int, shape: TailShape) -> dict[str, list[Pooled]]:
    """Per tail and tail probability: the pool's quantile (its empirical quantile of all the errors, shrunk toward
    the fitted Student-t's) and the between-ticker spread of the tickers' own quantiles."""
    everything = np.concatenate(errors) if errors else np.empty(0)
    overall = quantile_estimates(everything, horizon, shape)
    parametric = {"lower": shape.quantile(TAIL_PROBABILITIES), "upper": shape.quantile(1 - np.asarray(
        TAIL_PROBABILITIES))}
    per_ticker = [quantile_estimates(z, horizon, shape) for z in errors]
    out = {}
    for tail in ("lower", "upper"):
        estimates, variances = overall[tail]
        pooled = []
        for k in range(len(TAIL_PROBABILITIES)):
            target = shrink_to_target(float(estimates[k]), float(variances[k]), float(parametric[tail][k]))
            spread = pool([q[tail][0][k] for q in per_ticker], [q[tail][1][k] for q in per_ticker]).spread
            pooled.append(Pooled(target, spread))
        out[tail] = pooled
    return out


def ticker_quantiles(z: np.ndarray, horizon: int, shape: TailShape, pooled: dict[str, list[Pooled]]) -> dict:
    """{'lower': [...], 'upper': [...]}: a ticker's quantiles at each tail probability, shrunk toward the pool's and
    put in order (lower ones rise with p, upper ones fall, every lower below its upper)."""
    estimates = quantile_estimates(z, horizon, shape)
    lower = np.array([pooled["lower"][k].shrink(*_pair(estimates["lower"], k)) for k in range(len(TAIL_PROBABILITIES))])
    upper = np.array([pooled["upper"][k].shrink(*_pair(estimates["upper"], k)) for k in range(len(TAIL_PROBABILITIES))])
    lower = np.maximum.accumulate(lower)
    upper = np.minimum.accumulate(upper)
    middle = 0.5 * (lower[-1] + upper[-1])
    lower, upper = np.minimum(lower, middle - 1e-6), np.maximum(upper, middle + 1e-6)
    return {"lower": [float(v) for v in lower], "upper": [float(v) for v in upper]}


def _pair(estimate: tuple[np.ndarray, np.ndarray], k: int) -> tuple[float, float]:
    return float(estimate[0][k]), float(estimate[1][k])


def quantile_at(quantiles: dict, horizon: int, level: float) -> tuple[float, float]:
    """The (lower, upper) standardised quantiles of a central interval at `level`, `horizon` days ahead: interpolated
    in log p between TAIL_PROBABILITIES and in log h between the calibrated horizons (held beyond the last)."""
    p = (1.0 - level) / 2.0
    where_p = math.log(min(max(p, TAIL_PROBABILITIES[0]), TAIL_PROBABILITIES[-1]))
    log_p = np.log(TAIL_PROBABILITIES)
    anchors = sorted((int(h), bounds) for h, bounds in quantiles.items())
    at_p = [(h, float(np.interp(where_p, log_p, b["lower"])), float(np.interp(where_p, log_p, b["upper"])))
            for h, b in anchors]
    where_h = math.log(max(1, horizon))
    log_h = np.log([h for h, _, _ in at_p])
    return (float(np.interp(where_h, log_h, [low for _, low, _ in at_p])),
            float(np.interp(where_h, log_h, [high for _, _, high in at_p])))


def quantile_curves(quantiles: dict, horizon: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The standardised lower quantiles at tail probabilities `p` (k,) and the upper ones at 1 - p, `horizon` days
    ahead: `quantile_at`'s interpolation (log p, then log h; held beyond the ends) for many p at once."""
    where_p = np.log(np.clip(np.asarray(p, dtype=float), TAIL_PROBABILITIES[0], TAIL_PROBABILITIES[-1]))
    log_p = np.log(TAIL_PROBABILITIES)
    anchors = sorted((int(h), bounds) for h, bounds in quantiles.items())
    lower = np.array([np.interp(where_p, log_p, b["lower"]) for _, b in anchors])  # (H, k)
    upper = np.array([np.interp(where_p, log_p, b["upper"]) for _, b in anchors])
    log_h = np.log([h for h, _ in anchors])
    where_h = min(max(math.log(max(1, horizon)), log_h[0]), log_h[-1])
    if len(anchors) == 1:
        return lower[0], upper[0]
    i = min(int(np.searchsorted(log_h, where_h, side="right")) - 1, len(log_h) - 2)
    t = (where_h - log_h[i]) / (log_h[i + 1] - log_h[i])
    return lower[i] + t * (lower[i + 1] - lower[i]), upper[i] + t * (upper[i + 1] - upper[i])


# ---------------------------------------------------------------------------------------------- the stages
@dataclass(frozen=True)
class TickerCalibration:
    """A ticker's section of a model's meta.json (`tickers.TICKER`, checked by guards.check_meta), as forecasts read
    it: whether the network trained on it (`member`) or it was calibrated against the network later; its HAR level,
    offset and shock scale (forecaster.model.baseline); its inputs' scaler (means and spreads, one per input); the
    network's shares of the mean (α) and the scale (λ), the persistence φ and the quantiles per calibrated horizon
    (see the module docstring); and the span of its data the model learned from."""

    member: bool
    level: float
    offset: float
    shock_scale: float
    scaler_mean: list[float]
    scaler_scale: list[float]
    network_share: float
    scale_share: float
    persistence: float
    quantiles: dict  # {"1": {"lower": [...], "upper": [...]}, "5": ..., "20": ...}: quantile_at reads it
    first_date: str
    last_date: str
    rows: int

    @classmethod
    def from_json(cls, section: dict) -> TickerCalibration:
        training = section["training"]
        return cls(bool(section.get("member")), section["level"], section["offset"], section["shock_scale"],
                   section["scaler"]["mean"],
                   section["scaler"]["scale"], section["network_share"], section["scale_share"],
                   section["persistence"], section["quantiles"], training["first_date"], training["last_date"],
                   training["rows"])


@dataclass
class PoolCalibration:
    """The pool's calibration: each quantity's pooled value and spread, and the tail shapes per horizon."""

    mean_share: Pooled
    scale_share: Pooled
    persistence: Pooled
    shapes: dict[int, TailShape]
    quantiles: dict[int, dict[str, list[Pooled]]]

    def to_json(self) -> dict:
        return {"network_share": self.mean_share.as_list(), "scale_share": self.scale_share.as_list(),
                "persistence": self.persistence.as_list(),
                "tail_shapes": {str(h): shape.to_json() for h, shape in self.shapes.items()},
                "quantiles": {str(h): {tail: [p.as_list() for p in values] for tail, values in q.items()}
                              for h, q in self.quantiles.items()}}

    @classmethod
    def from_json(cls, data: dict) -> PoolCalibration:
        return cls(Pooled(*data["network_share"]), Pooled(*data["scale_share"]), Pooled(*data["persistence"]),
                   {int(h): TailShape(*shape) for h, shape in data["tail_shapes"].items()},
                   {int(h): {tail: [Pooled(*p) for p in values] for tail, values in q.items()}
                    for h, q in data["quantiles"].items()})


def calibrate_pool(evidence: dict[str, Evidence], nu: float | None) -> tuple[PoolCalibration, dict[str, dict]]:
    """The pool's calibration and each ticker's, from every ticker's evidence (see the module docstring)."""
    names = list(evidence)
    alpha_hat = {t: mean_share_estimate(evidence[t]) for t in names}
    alpha_pool = discounted(*zip(*alpha_hat.values(), strict=True), design_effect=date_design_effect(evidence))
    alpha = {t: _mean_share(alpha_pool, *alpha_hat[t]) for t in names}

    lam_hat = {t: scale_share_estimate(evidence[t], alpha[t], nu) for t in names}
    lam_pool = _or_default(pool(*zip(*lam_hat.values(), strict=True)), 0.0)
    lam = {t: _clip(lam_pool.shrink(*lam_hat[t]), SCALE_GRID[0], SCALE_GRID[-1]) for t in names}

    phi_hat = {t: persistence_estimate(evidence[t], alpha[t], lam[t]) for t in names}
    phi_pool = _or_default(pool(*zip(*phi_hat.values(), strict=True)), 1.0)
    phi = {t: _clip(phi_pool.shrink(*phi_hat[t]), PHI_GRID[0], 1.0) for t in names}

    shapes, quantiles, per_ticker = {}, {}, {t: {} for t in names}
    for horizon in CALIBRATED_HORIZONS:
        errors = {t: standardised_errors(evidence[t], alpha[t], lam[t], phi[t], horizon) for t in names}
        shapes[horizon] = TailShape.fit(np.concatenate(list(errors.values())))
        quantiles[horizon] = pooled_quantiles(list(errors.values()), horizon, shapes[horizon])
        for t in names:
            per_ticker[t][str(horizon)] = ticker_quantiles(errors[t], horizon, shapes[horizon], quantiles[horizon])
    calibration = PoolCalibration(alpha_pool, lam_pool, phi_pool, shapes, quantiles)
    return calibration, {t: _ticker(alpha[t], lam[t], phi[t], per_ticker[t]) for t in names}


def calibrate_newcomer(evidence: Evidence, calibration: PoolCalibration, nu: float | None) -> dict:
    """A ticker's calibration against a trained pool: its own evidence (every window held out) shrunk toward the
    pool's stored values."""
    alpha = _mean_share(calibration.mean_share, *mean_share_estimate(evidence))
    lam = _clip(calibration.scale_share.shrink(*scale_share_estimate(evidence, alpha, nu)), SCALE_GRID[0],
                SCALE_GRID[-1])
    phi = _clip(calibration.persistence.shrink(*persistence_estimate(evidence, alpha, lam)), PHI_GRID[0], 1.0)
    quantiles = {str(h): ticker_quantiles(standardised_errors(evidence, alpha, lam, phi, h), h,
                                          calibration.shapes[h], calibration.quantiles[h])
                 for h in CALIBRATED_HORIZONS}
    return _ticker(alpha, lam, phi, quantiles)


def _mean_share(pooled: Pooled, estimate: float, variance: float) -> float:
    """A ticker's network share of the mean: its estimate shrunk toward the pool's, then discounted by what remains
    of its uncertainty (the posterior variance τ² v / (τ² + v)) as the pool's was: a ticker keeps more of the
    network's mean than the pool only where its own evidence is clear, so that no ticker's point forecast is made
    worse than naive by noise. In [0, 1]."""
    shrunk = pooled.shrink(estimate, variance)
    if pooled.spread > 0 and math.isfinite(variance) and shrunk > pooled.value and shrunk != 0:
        remaining = pooled.spread * variance / (pooled.spread + variance)
        shrunk = max(pooled.value, shrunk * max(0.0, 1.0 - remaining / shrunk**2))
    return _clip(shrunk, 0.0, 1.0)


def _ticker(alpha: float, lam: float, phi: float, quantiles: dict) -> dict:
    return {"network_share": alpha, "scale_share": lam, "persistence": phi, "quantiles": quantiles}


def _or_default(pooled: Pooled, default: float) -> Pooled:
    return pooled if math.isfinite(pooled.value) else Pooled(default, 0.0)


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high)) + 0.0
