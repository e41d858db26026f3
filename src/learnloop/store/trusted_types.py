"""The exact types a learnloop model file may hold, and the check of a file's schema.

A skops file is a zip whose ``schema.json`` describes every object to rebuild as a node:
a loader (how skops rebuilds it) and a type (``module.Class``, which skops imports and
calls). A file is trusted only if every node anywhere in its schema is one of the
(loader, type) pairs below: the pairs learnloop's own families save, found by training and
saving a model of every family and task (tests/test_artifacts.py fails when a family needs
a pair that is not here). Nothing is trusted by module prefix: ``builtins.exec`` is in
``builtins`` and ``sklearn.preprocessing.FunctionTransformer`` can hold any function.

The check reads the JSON only: it imports nothing and builds nothing, so it runs before
skops is given the file. skops then audits the tree itself, with these names as the
only types it trusts besides its own defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from learnloop.exceptions import UntrustedModelError

__all__ = [
    "TRUSTED_TYPES",
    "LEARNLOOP_TYPES",
    "trusted_names",
    "audit_schema",
    "check_native_indices",
]

# ---- learnloop's own estimator classes: the one place that names them. A file names a class
# where it lived when the file was saved, so every place a class has lived stays listed: the
# flat module ``learnloop.estimators`` (files saved before the package was split; the package
# re-exports every class) and the class's module in the package today.
_LEARNLOOP_CLASSES = {
    "learnloop.estimators.boosting": ("BoosterClassifier", "BoosterRegressor"),
    "learnloop.estimators.ensemble": ("EnsembleClassifier", "EnsembleRegressor"),
    "learnloop.estimators.pictures": ("FaceEmbedding", "ImageFeatures", "OpenSetIdentifier"),
    "learnloop.estimators.clustering": ("HDBSCANClusterer",),
    "learnloop.estimators.recommendation": ("InteractionEncoder", "Recommender"),
    "learnloop.estimators.item_weights": ("ItemWeightsRecommender",),
    "learnloop.estimators.common": ("PassThrough", "ScaledTargetRegressor"),
}
LEARNLOOP_TYPES = frozenset(
    name
    for module, classes in _LEARNLOOP_CLASSES.items()
    for cls in classes
    for name in (f"learnloop.estimators.{cls}", f"{module}.{cls}")
)

# Fitted objects rebuilt attribute by attribute (__new__, then __setstate__ or __dict__).
_OBJECTS = frozenset(
    {
        "lightgbm.basic.Booster",
        "sklearn.cluster._kmeans.KMeans",
        "sklearn.cluster._kmeans.MiniBatchKMeans",  # k-means on tables over 20k rows
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.decomposition._pca.PCA",
        # free text (estimators/text.py): skrub's StringEncoder, its string conversion, and
        # scikit-learn's TF-IDF and SVD inside it; the analyzer is a name ("char_wb"), never
        # a function (a function would need a loader no file may name)
        "sklearn.decomposition._truncated_svd.TruncatedSVD",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.dummy.DummyClassifier",
        "sklearn.dummy.DummyRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.impute._base.MissingIndicator",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.mixture._gaussian_mixture.GaussianMixture",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._regression.KNeighborsRegressor",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._encoders.OrdinalEncoder",
        # only as scikit-learn's own 'passthrough' column step: no function (checked below)
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "skrub._string_encoder.StringEncoder",
        "skrub._to_str.ToStr",
    }
)

# numpy's plain number scalars (an array of one value, then the type called on it): pure
# data, listed in full so that a model whose scalars change width with the data still loads.
_NUMPY_SCALARS = frozenset(
    f"numpy.{name}"
    for name in (
        "bool",
        "float16",
        "float32",
        "float64",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
    )
)

# loader -> the exact types it may name. Loaders learnloop never writes (FunctionNode,
# MethodNode, PartialNode, OperatorFuncNode, ConstructorFromReduceNode, ...) are absent:
# every one of them can call or import something named in the file.
TRUSTED_TYPES: dict[str, frozenset[str]] = {
    "DictNode": frozenset({"builtins.dict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    "SliceNode": frozenset({"builtins.slice"}),
    "JsonNode": frozenset({"builtins.str"}),  # json.loads of its text; builds no type
    "TypeNode": frozenset({"builtins.int", "builtins.str", "numpy.float64"}),
    "DTypeNode": frozenset({"numpy.dtype"}),
    "NdArrayNode": frozenset({"numpy.ndarray"}) | _NUMPY_SCALARS,
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
    "ObjectNode": _OBJECTS | LEARNLOOP_TYPES,
}

# the oldest skops protocol learnloop has written (skops refuses newer ones than its own)
MIN_PROTOCOL = 2
_FUNCTION_TRANSFORMER = "sklearn.preprocessing._function_transformer.FunctionTransformer"
# a TF-IDF vectorizer calls its analyzer, preprocessor and tokenizer when given callables;
# learnloop's name an analyzer ("char_wb") and leave the other two unset
_VECTORIZER = "sklearn.feature_extraction.text.TfidfVectorizer"
_VECTORIZER_CALLS = ("analyzer", "preprocessor", "tokenizer")


def trusted_names() -> list[str]:
    """Every trusted type name, for skops' own audit (``skops.io.load(trusted=...)``)."""
    return sorted(set().union(*TRUSTED_TYPES.values()))


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every node of a skops schema: each JSON object that names a loader or a type.

    Walks every object in the document, not only where skops would look, so that no
    node can hide from the check (iteratively: a deep document cannot exhaust the stack).
    """
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if {"__loader__", "__module__", "__class__"} & item.keys():
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _type_of(node: dict[str, Any]) -> tuple[str, str] | None:
    loader, module, cls = (node.get(k) for k in ("__loader__", "__module__", "__class__"))
    if not all(isinstance(v, str) for v in (loader, module, cls)):
        return None
    return str(loader), f"{module}.{cls}"


def _calls_something(node: dict[str, Any]) -> bool:
    """True unless a TF-IDF vectorizer's analyzer, preprocessor and tokenizer are each
    plain JSON (a name or null): a trusted type there (``builtins.str``) would be called."""
    attrs = node.get("content")
    attrs = attrs.get("content") if isinstance(attrs, dict) else None
    if not isinstance(attrs, dict):
        return True
    for name in _VECTORIZER_CALLS:
        value = attrs.get(name)
        if value is not None and not (
            isinstance(value, dict) and value.get("__loader__") == "JsonNode"
        ):
            return True
    return False


def _holds_a_function(node: dict[str, Any]) -> bool:
    """True unless a FunctionTransformer is scikit-learn's identity (func and inverse
    null), the only form scikit-learn's 'passthrough' column step takes."""
    attrs = node.get("content")
    attrs = attrs.get("content") if isinstance(attrs, dict) else None
    if not isinstance(attrs, dict):
        return True
    for name in ("func", "inverse_func"):
        value = attrs.get(name)
        if value is not None and not (
            isinstance(value, dict)
            and value.get("__loader__") == "JsonNode"
            and value.get("content") == "null"
        ):
            return True
    return False


def audit_schema(schema: Any, where: str) -> None:
    """Raise UntrustedModelError (naming the types) unless every node of the skops
    ``schema`` (the parsed schema.json of the model file ``where``) is a trusted pair."""
    protocol = schema.get("protocol") if isinstance(schema, dict) else None
    if isinstance(protocol, bool) or not isinstance(protocol, int) or protocol < MIN_PROTOCOL:
        raise UntrustedModelError(
            f"The file '{where}' is not a learnloop model file (no skops schema of a "
            "known protocol); it is not loaded."
        )
    refused: set[str] = set()
    for node in _nodes(schema):
        pair = _type_of(node)
        if pair is None:
            refused.add("a malformed entry")
            continue
        loader, name = pair
        if name not in TRUSTED_TYPES.get(loader, frozenset()):
            refused.add(name if loader in TRUSTED_TYPES else f"{name} (as {loader})")
        elif name == _FUNCTION_TRANSFORMER and _holds_a_function(node):
            refused.add(f"{name} holding a function")
        elif name == _VECTORIZER and _calls_something(node):
            refused.add(f"{name} holding a function")
    if refused:
        shown = sorted(refused)
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        raise UntrustedModelError(
            f"The model file '{where}' asks to load types that are not trusted: "
            f"{', '.join(shown[:5])}{more}; it is not loaded."
        )


# --------------------------------------------------------- after loading: native indices
# Two trusted types hold indices that scikit-learn's compiled code follows without bounds
# checks (skops leaves both off its own default list for that reason): a decision tree's
# child and feature indices, and a k-d tree's point and node indices. A crafted file with
# a valid digest (no key needed) could make them point outside their arrays and crash the
# server at its first prediction, so they are checked once, right after loading.


def _tree_is_sound(tree: Any, n_features: int) -> bool:
    """A scikit-learn ``Tree``: every inner node's children come after it and inside the
    node array (so no walk can loop or leave it), and its feature is an input column."""
    import numpy as np

    state = tree.__getstate__()
    nodes, count = state["nodes"], int(state["node_count"])
    if len(nodes) != count or len(state["values"]) != count or tree.n_features != n_features:
        return False
    left, right = nodes["left_child"], nodes["right_child"]
    leaf = left == -1
    if count == 0 or np.any(leaf != (right == -1)):
        return False
    inner = np.flatnonzero(~leaf)
    feature = nodes["feature"][inner]
    return bool(
        np.all((left[inner] > inner) & (left[inner] < count))
        and np.all((right[inner] > inner) & (right[inner] < count))
        and np.all((feature >= 0) & (feature < n_features))
    )


def _kd_tree_is_sound(tree: Any) -> bool:
    """A scikit-learn ``KDTree``: its point indices inside its data, its node array the
    size its levels say, and every node whose children would fall outside it a leaf."""
    import numpy as np

    data, index, nodes, bounds, _, levels, count = tree.__getstate__()[:7]
    n = len(data)
    if len(index) != n or count != 2 ** int(levels) - 1 or len(nodes) != count:
        return False
    if bounds.shape != (2, count, data.shape[1]):
        return False
    start, end = nodes["idx_start"], nodes["idx_end"]
    childless = 2 * np.arange(count) + 1 >= count
    return bool(
        np.all((index >= 0) & (index < n))
        and np.all((start >= 0) & (start <= end) & (end <= n))
        and np.all(nodes["is_leaf"][childless] != 0)
    )


def check_native_indices(obj: Any, where: str) -> None:
    """Raise UntrustedModelError if a loaded model holds a decision tree or k-d tree whose
    indices point outside its arrays (walks the model's estimators and containers)."""
    from sklearn.base import BaseEstimator
    from sklearn.neighbors import KDTree
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        sound = True
        if isinstance(getattr(item, "tree_", None), Tree):
            sound = _tree_is_sound(item.tree_, int(getattr(item, "n_features_in_", -1)))
        elif isinstance(item, KDTree):
            sound = _kd_tree_is_sound(item)
        if not sound:
            raise UntrustedModelError(
                f"The model file '{where}' holds a {type(item).__name__} whose indices point "
                "outside its own arrays (a damaged or crafted file); it is not loaded."
            )
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, BaseEstimator) or type(item).__module__.startswith("learnloop."):
            stack.extend(vars(item).values())
