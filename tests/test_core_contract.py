"""Every registered estimator, grid and toy alike, keeps scikit-learn's contract and the shared hyperparameters."""

import inspect
import re

import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as checks

import opkit
from opkit.estimator import CORE_PARAMS, OpkitEstimator
from opkit.base import SHARED_PARAMS, OperatorEstimator

import core_toys  # noqa: F401  (registers the toy estimators)

ESTIMATOR_NAMES = sorted(opkit.ESTIMATORS)

#: scikit-learn's checks that do not depend on the kind of data an estimator takes.
CONTRACT_CHECKS = [
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_estimators_unfitted,
    checks.check_mixin_order,
    checks.check_valid_tag_types,
    checks.check_estimator_tags_renamed,
    checks.check_requires_y_none,
]


def test_the_toys_and_the_grid_estimators_are_registered():
    assert {"TFNORegressor", "MgNOOperator", "LSMOperator", "ToyPoissonSolver", "ToyVectorRegressor",
            "ToyTwoStageRegressor"} <= set(ESTIMATOR_NAMES)
    assert all(issubclass(opkit.ESTIMATORS[name], OpkitEstimator) for name in ESTIMATOR_NAMES)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_contract(name, check):
    estimator = opkit.ESTIMATORS[name]()
    if check is checks.check_requires_y_none and not estimator.__sklearn_tags__().target_tags.required:
        pytest.skip("trains without labels")
    check(name, estimator)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_signature_has_the_shared_hyperparameters_documented_with_their_defaults(name):
    cls = opkit.ESTIMATORS[name]
    parameters = inspect.signature(cls.__init__).parameters
    expected = SHARED_PARAMS if issubclass(cls, OperatorEstimator) else CORE_PARAMS
    assert cls.shared_params is expected
    missing = [p for p in expected if p not in parameters]
    assert not missing, f"{name} lacks shared hyperparameters {missing}"
    for param in expected:
        default = parameters[param].default
        shown = f'"{default}"' if isinstance(default, str) else repr(default)
        entry = re.search(rf"^    {param} : .*$", cls.__doc__, flags=re.M)
        assert entry, f"{name}'s docstring does not document {param}"
        assert entry.group(0).endswith(f"default={shown}"), (name, entry.group(0))
    # get_params round trip through the constructor.
    est = cls()
    assert cls(**est.get_params()).get_params() == est.get_params()
    assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_predict_before_fit_is_not_fitted_error(name):
    with pytest.raises(NotFittedError):
        opkit.ESTIMATORS[name]().predict(core_toys.poisson_data(2)[0])
