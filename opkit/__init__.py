"""opkit: learn solution operators of PDEs with a scikit-learn-style API on xarray fields."""

__version__ = "0.1.0"
