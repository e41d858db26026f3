"""skl2onnx converters for learnloop's own estimators, registered once on first use.

scikit-learn's estimators convert with skl2onnx's own converters. learnloop's wrappers
delegate to the converter of what they wrap: a :class:`BoosterClassifier` or
:class:`BoosterRegressor` to onnxmltools' LightGBM converter, given the booster cut at
the wrapper's best iteration (the trees its ``predict`` uses, no more); a
:class:`ScaledTargetRegressor` to its inner regressor's converter, then ``* scale + mean``;
a :class:`PassThrough` is an identity. Ensembles are not covered: their members each read
the raw table, which skl2onnx's pipeline parser cannot hand to several pipelines.

Imported only by :mod:`learnloop.store.onnx_export`, inside the export (skl2onnx and
onnxmltools are the optional ``onnx`` extra).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from learnloop.estimators import (
    BoosterClassifier,
    BoosterRegressor,
    EnsembleClassifier,
    EnsembleRegressor,
    PassThrough,
    ScaledTargetRegressor,
)

__all__ = ["register_converters", "has_converter", "inexact_part"]

_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


def _booster_at_best(model: Any) -> Any:
    """The wrapper's booster cut at its best iteration, in the form onnxmltools reads."""
    import lightgbm as lgb
    from onnxmltools.convert.lightgbm._parse import WrappedBooster

    text = model.booster_.model_to_string(num_iteration=model.best_iteration_)
    return WrappedBooster(lgb.Booster(model_str=text))


def _convert_booster(scope: Any, operator: Any, container: Any) -> None:
    """onnxmltools' LightGBM converter, run on the booster the wrapper holds."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

    model = operator.raw_operator
    operator.raw_operator = _booster_at_best(model)
    try:
        convert_lightgbm(scope, operator, container)
    finally:
        operator.raw_operator = model


def _booster_classifier_shape(operator: Any) -> None:
    """A label per row and a float probability per class (trees score in float)."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = Int64TensorType([rows])
    operator.outputs[1].type = FloatTensorType([rows, len(operator.raw_operator.classes_)])


def _booster_regressor_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), 1])


def _scaled_shape(operator: Any) -> None:
    from skl2onnx.common.shape_calculator import calculate_linear_regressor_output_shapes

    calculate_linear_regressor_output_shapes(operator)


def _convert_scaled(scope: Any, operator: Any, container: Any) -> None:
    """The inner regressor's graph, then its output times ``y_scale`` plus ``y_mean``."""
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxAdd, OnnxMul
    from skl2onnx.common.data_types import guess_numpy_type

    model = operator.raw_operator
    opv = container.target_opset
    dtype = guess_numpy_type(operator.inputs[0].type)
    inner = OnnxSubEstimator(model.regressor, operator.inputs[0], op_version=opv)
    scaled = OnnxMul(inner, np.array([model.y_scale], dtype=dtype), op_version=opv)
    out = OnnxAdd(
        scaled, np.array([model.y_mean], dtype=dtype), op_version=opv, output_names=operator.outputs
    )
    out.add_to(scope, container)


def _parse_passthrough(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None):
    """The identity step adds nothing to the graph: its inputs are its outputs, however
    many and of whatever types (an ensemble's members read the raw columns)."""
    return inputs


def _no_shape(operator: Any) -> None:
    """The identity step's shape calculator: never called, its parser adds no operator."""
    raise RuntimeError("PassThrough adds no operator.")


def _no_converter(scope: Any, operator: Any, container: Any) -> None:
    """The identity step's converter: never called, its parser adds no operator."""
    raise RuntimeError("PassThrough adds no operator.")


def _parse_ensemble(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None):
    """Each member pipeline parsed on the same raw inputs; one operator averages their
    last outputs (probabilities, or values)."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType

    parts = [_parse_sklearn(scope, m, inputs, custom_parsers=custom_parsers) for m in model.members]
    operator = scope.declare_local_operator(_alias(type(model)), model)
    operator.inputs = [outputs[-1] for outputs in parts]
    if hasattr(model, "predict_proba"):
        operator.outputs.append(scope.declare_local_variable("label", Int64TensorType()))
    operator.outputs.append(scope.declare_local_variable("average", DoubleTensorType()))
    return operator.outputs


def _ensemble_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType

    rows = operator.inputs[0].get_first_dimension()
    if len(operator.outputs) == 2:
        operator.outputs[0].type = Int64TensorType([rows])
    width = operator.raw_operator.n_classes if len(operator.outputs) == 2 else 1
    operator.outputs[-1].type = DoubleTensorType([rows, width])


def _convert_ensemble(scope: Any, operator: Any, container: Any) -> None:
    """``sum_i weight_i * output_i`` in double, and the arg-max as the label."""
    from skl2onnx.algebra.onnx_ops import OnnxArgMax, OnnxCast, OnnxMul, OnnxReshape, OnnxSum

    opv = container.target_opset
    model = operator.raw_operator
    terms = []
    for part, weight in zip(operator.inputs, model.weights_, strict=True):
        as_double = OnnxCast(part, to=11, op_version=opv)  # 11: DOUBLE
        if len(operator.outputs) == 1:  # values: one column, whatever shape a member gives
            as_double = OnnxReshape(as_double, np.array([-1, 1], dtype=np.int64), op_version=opv)
        terms.append(OnnxMul(as_double, np.array([weight], dtype=np.float64), op_version=opv))
    average = OnnxSum(*terms, op_version=opv, output_names=operator.outputs[-1:])
    average.add_to(scope, container)
    if len(operator.outputs) == 2:
        label = OnnxArgMax(
            average, axis=1, keepdims=0, op_version=opv, output_names=operator.outputs[:1]
        )
        label.add_to(scope, container)


def _alias(cls: type) -> str:
    return f"Learnloop{cls.__name__}"


@cache
def register_converters() -> None:
    """Teach skl2onnx learnloop's estimators (once per process)."""
    from skl2onnx import update_registered_converter

    def register(cls: type, shape: Any, convert: Any, **extra: Any) -> None:
        update_registered_converter(cls, _alias(cls), shape, convert, **extra)

    register(
        BoosterClassifier, _booster_classifier_shape, _convert_booster, options=_CLASSIFIER_OPTIONS
    )
    register(BoosterRegressor, _booster_regressor_shape, _convert_booster)
    register(ScaledTargetRegressor, _scaled_shape, _convert_scaled)
    register(PassThrough, _no_shape, _no_converter, parser=_parse_passthrough)
    register(
        EnsembleClassifier,
        _ensemble_shape,
        _convert_ensemble,
        parser=_parse_ensemble,
        options=_CLASSIFIER_OPTIONS,
    )
    register(EnsembleRegressor, _ensemble_shape, _convert_ensemble, parser=_parse_ensemble)


def inexact_part(estimator: Any) -> str | None:
    """Why skl2onnx's converter of ``estimator`` would not answer as it does (None if it
    would): missing-value indicators have no converter, and scikit-learn's forests route a
    missing value by ``missing_go_to_left``, which their converter drops."""
    if getattr(estimator, "add_indicator", False) and len(
        getattr(getattr(estimator, "indicator_", None), "features_", [])
    ):
        return "missing-value indicators"
    if hasattr(estimator, "estimators_") and hasattr(estimator, "max_features"):
        return "a scikit-learn forest's routing of missing values"
    return None


def has_converter(estimator: Any) -> bool:
    """Whether skl2onnx knows ``estimator``'s class (after :func:`register_converters`)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    return type(estimator) in sklearn_operator_name_map
