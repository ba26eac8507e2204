"""opkit's estimators, one model per file."""

from .dgno import DGNOSolver
from .equino import EquiNO
from .lsm import LSMOperator
from .mgno import MgNOOperator
from .poseidon import PoseidonRegressor
from .prose import PROSE
from .spectral_refiner import SpectralRefiner
from .tfno import TFNORegressor

__all__ = ["DGNOSolver", "EquiNO", "LSMOperator", "MgNOOperator", "PROSE", "PoseidonRegressor", "SpectralRefiner", "TFNORegressor"]
