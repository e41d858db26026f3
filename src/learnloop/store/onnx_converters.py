"""skl2onnx converters for learnloop's own estimators, registered once on first use.

scikit-learn's estimators convert with skl2onnx's own converters. learnloop's wrappers
delegate to the converter of what they wrap: a :class:`BoosterClassifier` or
:class:`BoosterRegressor` to onnxmltools' LightGBM converter, given the booster cut at
the wrapper's best iteration (the trees its ``predict`` uses, no more); a
:class:`ScaledTargetRegressor` to its inner regressor's converter, then ``* scale + mean``;
scikit-learn's ``DummyClassifier`` and ``DummyRegressor`` (the baseline learnloop saves when
nothing beat it) repeat their one answer; a :class:`PassThrough` adds nothing (its parser
hands its inputs on); an ensemble's members are each parsed on the raw inputs and averaged
by weight. Two of scikit-learn's own get help: an imputer's missing-value indicators (no
skl2onnx converter) are ``IsNaN`` columns beside skl2onnx's imputer, and a forest's splits
get the side a missing value takes (``missing_go_to_left``, which skl2onnx's converter
leaves out).

Imported only by :mod:`learnloop.store.onnx_export`, inside the export (skl2onnx and
onnxmltools are the optional ``onnx`` extra).
"""

from __future__ import annotations

import copy
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

__all__ = ["register_converters", "has_converter", "custom_parsers"]

_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
_FOREST_OPTIONS = {
    **_CLASSIFIER_OPTIONS,
    "raw_scores": [False, True],
    "decision_path": [False, True],
    "decision_leaf": [False, True],
}


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


def _parse_imputer(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None):
    """A SimpleImputer that adds missing-value indicators: skl2onnx's imputer on a copy
    without them, then the indicator columns (``IsNaN`` of the columns that had missing
    values in training, as 0/1) beside it, as scikit-learn concatenates them."""
    from skl2onnx._parse import _parse_sklearn_simple_model
    from skl2onnx.common.data_types import FloatTensorType

    indicated = getattr(getattr(model, "indicator_", None), "features_", [])
    if not (model.add_indicator and len(indicated)):
        return _parse_sklearn_simple_model(scope, model, inputs, custom_parsers=custom_parsers)
    plain = copy.copy(model)
    plain.add_indicator = False
    imputed = _parse_sklearn_simple_model(scope, plain, inputs, custom_parsers=custom_parsers)
    indicator = scope.declare_local_operator("LearnloopMissingIndicator", model)
    indicator.inputs = inputs
    indicator.outputs.append(scope.declare_local_variable("indicators", FloatTensorType()))
    concat = scope.declare_local_operator("SklearnConcat")
    concat.inputs = [*imputed, *indicator.outputs]
    concat.outputs.append(scope.declare_local_variable("imputed_indicated", FloatTensorType()))
    return concat.outputs


def _indicator_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    width = len(operator.raw_operator.indicator_.features_)
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])


def _convert_indicator(scope: Any, operator: Any, container: Any) -> None:
    """1.0 where a column that had missing values in training is NaN, else 0.0."""
    from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxConcat, OnnxGather, OnnxIsNaN

    opv = container.target_opset
    columns = np.asarray(operator.raw_operator.indicator_.features_, dtype=np.int64)
    X = (
        OnnxConcat(*operator.inputs, axis=1, op_version=opv)
        if len(operator.inputs) > 1
        else operator.inputs[0]
    )
    picked = OnnxGather(X, columns, axis=1, op_version=opv)
    flags = OnnxCast(
        OnnxIsNaN(picked, op_version=opv), to=1, op_version=opv, output_names=operator.outputs
    )
    flags.add_to(scope, container)


def _parse_forest(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None):
    """A scikit-learn forest under learnloop's alias, so that its converter is
    :func:`_convert_forest` (zipmap is off for every classifier the export converts)."""
    from skl2onnx._parse import _parse_sklearn_simple_model

    alias = _FOREST_ALIAS + ("Classifier" if hasattr(model, "predict_proba") else "Regressor")
    return _parse_sklearn_simple_model(
        scope, model, inputs, custom_parsers=custom_parsers, alias=alias
    )


def _convert_forest(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's forest converter, then each split told where a missing value goes
    (``missing_go_to_left``: the true branch of ``BRANCH_LEQ``), which it leaves out."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    model = operator.raw_operator
    before = len(container.nodes)
    get_converter(sklearn_operator_name_map[type(model)])(scope, operator, container)
    trees = [tree.tree_ for tree in model.estimators_]
    for node in container.nodes[before:]:
        if node.op_type.startswith("TreeEnsemble"):
            _route_missing(node, trees)


def _route_missing(node: Any, trees: list[Any]) -> None:
    """Set ``nodes_missing_value_tracks_true`` of a tree-ensemble node from the trees."""
    attrs = {a.name: a for a in node.attribute}
    tree_ids, node_ids = attrs["nodes_treeids"].ints, attrs["nodes_nodeids"].ints
    modes = attrs["nodes_modes"].strings
    tracks = [
        int(mode != b"LEAF" and trees[t].missing_go_to_left[n])
        for t, n, mode in zip(tree_ids, node_ids, modes, strict=True)
    ]
    if "nodes_missing_value_tracks_true" in attrs:
        node.attribute.remove(attrs["nodes_missing_value_tracks_true"])
    from onnx import helper

    node.attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", tracks))


_FOREST_ALIAS = "LearnloopForest"


def custom_parsers() -> dict[type, Any]:
    """Parsers handed to skl2onnx for one conversion: imputers with indicators, forests."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer

    forests = (ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier)
    return {
        SimpleImputer: _parse_imputer,
        **dict.fromkeys((*forests, RandomForestRegressor), _parse_forest),
    }


def _dummy_shape(operator: Any) -> None:
    """The baseline's answers: a label per row and a double probability per class, or a
    double value per row."""
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType

    rows = operator.inputs[0].get_first_dimension()
    model = operator.raw_operator
    if hasattr(model, "predict_proba"):
        operator.outputs[0].type = Int64TensorType([rows])
        operator.outputs[1].type = DoubleTensorType([rows, len(model.classes_)])
    else:
        operator.outputs[0].type = DoubleTensorType([rows, 1])


def _convert_dummy(scope: Any, operator: Any, container: Any) -> None:
    """The baseline (learnloop saves it when nothing beat it): its one answer, which does
    not depend on the row (prior, mean), repeated for every input row."""
    from skl2onnx.algebra.onnx_ops import OnnxConcat, OnnxExpand, OnnxGather, OnnxShape

    opv = container.target_opset
    model = operator.raw_operator
    row = np.zeros((1, model.n_features_in_))
    rows = OnnxGather(
        OnnxShape(operator.inputs[0], op_version=opv),
        np.array([0], dtype=np.int64),
        axis=0,
        op_version=opv,
    )
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(row), dtype=np.float64)
        code = np.asarray([int(np.asarray(model.predict(row))[0])], dtype=np.int64)
        label = OnnxExpand(code, rows, op_version=opv, output_names=operator.outputs[:1])
        label.add_to(scope, container)
    else:
        proba = np.asarray(model.predict(row), dtype=np.float64).reshape(1, 1)
    shape = OnnxConcat(rows, np.array([proba.shape[1]], dtype=np.int64), axis=0, op_version=opv)
    answer = OnnxExpand(proba, shape, op_version=opv, output_names=operator.outputs[-1:])
    answer.add_to(scope, container)


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
    from sklearn.dummy import DummyClassifier, DummyRegressor

    register(DummyClassifier, _dummy_shape, _convert_dummy, options=_CLASSIFIER_OPTIONS)
    register(DummyRegressor, _dummy_shape, _convert_dummy)
    from skl2onnx.common._registration import register_converter, register_shape_calculator
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    register_converter("LearnloopMissingIndicator", _convert_indicator)
    register_shape_calculator("LearnloopMissingIndicator", _indicator_shape)
    for kind, shape in (
        ("Classifier", calculate_linear_classifier_output_shapes),
        ("Regressor", calculate_linear_regressor_output_shapes),
    ):
        register_converter(_FOREST_ALIAS + kind, _convert_forest, options=_FOREST_OPTIONS)
        register_shape_calculator(_FOREST_ALIAS + kind, shape)


def has_converter(estimator: Any) -> bool:
    """Whether skl2onnx knows ``estimator``'s class (after :func:`register_converters`)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    return type(estimator) in sklearn_operator_name_map
