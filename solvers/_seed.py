"""Per-sample random generators derived from one run seed.

Every solver draws the random inputs of sample ``i`` from its own generator,
``numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(i,))))``. A sample
therefore depends only on the run seed and its index, never on which chunk,
worker or batch computed it, which is what lets an interrupted run resume and
still give the file an uninterrupted run gives. torch's generator is not used.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["SEEDING", "check_seed", "run_seed", "sample_rng", "sample_rngs"]

#: Human-readable description of the seeding scheme, stored in every file.
SEEDING = (
    "sample i draws its inputs, in a fixed order, from "
    "numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(i,))))"
)


def check_seed(seed):
    """Return ``seed`` as a Python int, or raise if it is not a valid run seed.

    Parameters
    ----------
    seed : int
        Run seed; a non-negative integer (``SeedSequence`` rejects negatives).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def sample_rng(seed, index):
    """Generator of sample ``index`` in the run seeded with ``seed``.

    Parameters
    ----------
    seed : int
        Run seed (non-negative).
    index : int
        Sample index (non-negative).

    Returns
    -------
    numpy.random.Generator
        ``Generator(PCG64(SeedSequence(seed, spawn_key=(index,))))``.

    Examples
    --------
    >>> a = sample_rng(0, 5).standard_normal(3)
    >>> b = sample_rng(0, 5).standard_normal(3)
    >>> bool((a == b).all())
    True
    """
    seed = check_seed(seed)
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or index < 0:
        raise ValueError(f"sample index must be a non-negative integer, got {index!r}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(index),))))


def sample_rngs(seed, indices):
    """Generators of several samples, one per index (see :func:`sample_rng`).

    Parameters
    ----------
    seed : int
        Run seed.
    indices : iterable of int
        Sample indices.

    Returns
    -------
    list of numpy.random.Generator
    """
    return [sample_rng(seed, int(i)) for i in np.asarray(indices).ravel()]


def run_seed(rng):
    """The run seed behind a per-sample generator (:func:`sample_rng`).

    The machinery passes generators, not the seed; draws shared by a group of
    samples (an equation, a Latin-hypercube design) need the seed itself.

    Parameters
    ----------
    rng : numpy.random.Generator
        A generator made by :func:`sample_rng`.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``rng`` was not made by :func:`sample_rng`.
    """
    seq = getattr(rng.bit_generator, "seed_seq", None)
    if not isinstance(seq, np.random.SeedSequence) or len(seq.spawn_key) != 1:
        raise ValueError("expected a per-sample generator of solvers._seed.sample_rng")
    return seq.entropy
