"""
PROSE: a trajectory and its equation from one observed window
=============================================================

:class:`opkit.PROSE` reads the first part of a trajectory of a chaotic ODE
:math:`\\dot u = f(u)` and returns both the trajectory at later times and the
vector field :math:`f` with its constants, decoded token by token. Here a
small model learns from 180 trajectories of the Lorenz, Rössler and Thomas
systems (:mod:`solvers.odes`, t in [0, 3] at 48 times, the first 16
observed) for a few hundred steps, so it runs in seconds on a CPU; the
benchmark (``benchmarks/bench_prose.py``) trains longer on more data.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from opkit import PROSE
from opkit.models.prose import prose_windows
from solvers import odes
from solvers._cli import compute_chunk

params = odes.SOLVER.resolve(dict(families="lorenz,rossler,thomas", states_per_equation=2, final_time=3.0,
                                  n_times=48, n_input_times=16))
data = compute_chunk(odes.SOLVER, params, np.arange(200), seed=0)
data.attrs.update(odes.global_attrs(params))
X, y = prose_windows(data)  # observed window, and the future with the equations
train, test = slice(0, 180), slice(180, None)

# %%
# The data-only variant (``use_skeleton=False``) sees no hint of the equation.
model = PROSE(use_skeleton=False, max_epochs=40, batch_size=32, learning_rate=3e-3, random_state=0, device="cpu")
model.fit(X.isel(sample=train), y.isel(sample=train))
print(f"{model.n_params_} parameters; training loss terms, first and last epoch:")
for term in ("data", "tokens"):
    h = model.history_[f"train/{term}"]
    print(f"  {term:<7} {h[0]:.3f} -> {h[-1]:.3f}")

# %%
# Scores on 20 held-out trajectories (other parameter draws).
scores = model.score_symbolic(X.isel(sample=test), y.isel(sample=test))
print({k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()})

# %%
# One test trajectory: the prediction at 100 query times after the window, and the equation.
k = 181
Xk = X.sel(sample=[k])
times = np.linspace(float(X.time[-1]), float(y.time[-1]), 100)
pred = model.predict(Xk, times)["state"]
print("true:   ", y["equation"].sel(sample=k).item())
print("decoded:", model.predict_symbolic(Xk)[0])

fig, axes = plt.subplots(3, 1, figsize=(7, 6), sharex=True)
for i, ax in enumerate(axes):
    ax.plot(X.time, X.state.sel(sample=k, component=i), "k.", label="observed")
    ax.plot(y.time, y.state.sel(sample=k, component=i), "k-", lw=1, label="truth")
    ax.plot(times, pred.sel(sample=k, component=i), "C1--", label="PROSE")
    ax.set_ylabel(f"$u_{i}$")
axes[0].legend(loc="upper right", fontsize=8)
axes[-1].set_xlabel("t")
fig.suptitle(f"{y['equation'].sel(sample=k).item()}", fontsize=8)
fig.tight_layout()
plt.show()
