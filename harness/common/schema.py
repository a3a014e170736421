"""The schema of a run's files, defined once: the columns of ``scores.csv``, the row builder, the keys of
``examples.npz`` and the condition records of ``run_info.json`` (``DESIGN.md``, "One schema").

The producer (the loop, :mod:`harness.entry.run`, the perturbation families) writes through these names and functions
and the consumer (the report, the results readers) reads through them: a column or a key is added in one place. The
bottom layer: only the standard library is imported, so every layer may import it. The measures (``ssim``, ...) are
columns too, listed once in :mod:`harness.metrics.registry`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# The columns of scores.csv, in the order of a row (:func:`score_row`).
IMAGE_ID = "image_id"  #: position of the image in the test split
SAMPLE = "sample"  #: the draw of a random condition (0 for a deterministic one)
LABEL = "label"  #: the image's true class
PRED = "pred"  #: the original network's prediction on the clean image (a condition run under another: that one's)
PRED_PERTURBED = "pred_perturbed"  #: the condition's network's prediction on the perturbed image
PRED_AGREES = "pred_agrees"  #: whether the prediction was kept (up to precision)
METHOD = "method"  #: the attribution method's configured name
BASELINE_TREATMENT = "baseline_treatment"  #: carried / fixed / recomputed; "" for a method without a baseline
CONTROL = "control"  #: whether the method is a control (random or constant map)
PERTURBATION = "perturbation"  #: the family of the condition
MAGNITUDE = "magnitude"  #: the size of the condition (the x axis of the figures)
REGIME = "regime"  #: the panel of the figures
CONDITION = "condition"  #: what the magnitude does not say (e.g. ``unit→imagenet``)
NAN_REASON = "nan_reason"  #: why a measure of the row is NaN ("" if none is)
TARGET_LOGIT_CHANGE = "target_logit_change"  #: change of the explained class's logit
MAX_LOGIT_DIFF = "max_logit_diff"  #: max |logit change| over the classes
EXPLAINED = "explained"  #: the class the perturbed map explains
N_STEPS = "n_steps"  #: the method's quadrature points (IG), or empty
COMPLETENESS_ERROR = "completeness_error"  #: ``|Σ attr − ΔF| / |ΔF|`` of the perturbed map, or empty
#: per-map columns are also written for the clean map, as ``<name>_clean``
CLEAN_SUFFIX = "_clean"
COMPLETENESS_ERROR_CLEAN = COMPLETENESS_ERROR + CLEAN_SUFFIX  #: the same for the clean map
ENCODING = "encoding"  #: the name of the model's input encoding
MAP_CONSTANT = "map_constant"  #: whether the perturbed map is constant up to its precision
MAP_CONSTANT_CLEAN = MAP_CONSTANT + CLEAN_SUFFIX  #: whether the clean map is

# Columns the families add (:attr:`Condition.columns`).
COMPENSATED = "compensated"  #: affine families: the network is rewritten to undo the shift
EXACT = "exact"  #: affine families: the exact (not the naive) compensation
NOISE = "noise"  #: noise: its kind (uniform, gaussian)
CLIP = "clip"  #: noise: the noisy image is clipped to [0, 1]
OBJECTIVE = "objective"  #: attacks: the objective ("" for the random-sign control)
NORM = "norm"  #: attacks: the norm of the ball
META_TEST = "meta_test"  #: meta-evaluation: the test, ``model`` or ``input`` (what is perturbed)
#: meta-evaluation: ``resilience`` (minor noise), ``adversary`` (disruptive noise), or ``unperturbed`` (a family run
#: alone, the reference of its runs under the copies)
META_TYPE = "meta_type"
COPY = "copy"  #: meta-evaluation: which perturbed copy of the model or the input
TRANSFORM = "transform"  #: equivariance: the geometric transform (translation, flip, rotation90, ...)
ALIGNED = "aligned"  #: equivariance: the perturbed map brought back into the clean frame (True) or not
CORRUPTION = "corruption"  #: natural corruptions: the corruption (gaussian_noise, fog, ...)
SEVERITY = "severity"  #: natural corruptions: its severity 1-5 (= magnitude)
CORRUPTION_GROUP = "corruption_group"  #: natural corruptions: noise, blur, weather or digital

# Columns added when reading and aggregating; then the groups.
RUN = "run"  #: the run a row comes from (path relative to the results folder)
CFG_PREFIX = "cfg:"  #: a sweep's override or a pool's differing setting, ``cfg:<key>``
N_SAMPLES = "n_samples"  #: aggregates.csv: samples an aggregate rests on (also a condition record's field)
N_KEPT = "n_kept"  #: aggregates.csv: of those, samples whose prediction was kept
VARIANT = "variant"  #: the report's method label: method and baseline treatment
METRIC = "metric"  #: summary.csv: the measure a row summarises

#: Columns every condition writes (family, x axis, panel, free-text label).
STANDARD_COLUMNS = (PERTURBATION, MAGNITUDE, REGIME, CONDITION)
#: Columns that identify what was scored, not how it is grouped: one image, one draw, one run of a pool.
UNIT_COLUMNS = (RUN, IMAGE_ID, SAMPLE)
#: Columns that identify one image across runs (those present in a table).
IMAGE_COLUMNS = (RUN, IMAGE_ID)
#: Per-row facts about the image and the prediction (neither grouped by nor summarised).
FACT_COLUMNS = (LABEL, PRED, PRED_PERTURBED, EXPLAINED, NAN_REASON, N_SAMPLES, N_KEPT, MAP_CONSTANT,
                MAP_CONSTANT_CLEAN)
#: Columns that describe the method rather than the condition.
METHOD_COLUMNS = (METHOD, BASELINE_TREATMENT, CONTROL)


def condition_columns(perturbation: str, magnitude: Any, regime: str, condition: str = "",
                      own: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A condition's ``scores.csv`` columns: the :data:`STANDARD_COLUMNS`, then the family's ``own`` (in order)."""
    return {PERTURBATION: perturbation, MAGNITUDE: magnitude, REGIME: regime, CONDITION: condition, **(own or {})}


def present(columns: Iterable[str], names: Iterable[str]) -> list[str]:
    """The ``names`` that are among ``columns`` (e.g. the :data:`IMAGE_COLUMNS` of a table), in ``names``' order."""
    have = set(columns)
    return [n for n in names if n in have]


@dataclass(frozen=True)
class Prediction:
    """A row's image, its clean and perturbed predictions (agreeing up to precision) and the class explained."""

    image_id: int
    sample: int
    label: int
    pred: int
    pred_perturbed: int
    pred_agrees: bool
    explained: int


@dataclass(frozen=True)
class Variant:
    """A row's method variant (treatment None or ``""`` without a baseline; steps None where it has none)."""

    method: str
    baseline_treatment: str | None
    control: bool
    n_steps: int | None
    encoding: str


@dataclass(frozen=True)
class MapFacts:
    """A row's logit changes, completeness errors (None where none) and whether its maps are constant."""

    target_logit_change: float
    max_logit_diff: float
    completeness_error: float | None
    completeness_error_clean: float | None
    map_constant: bool
    map_constant_clean: bool


@dataclass(frozen=True)
class Scores:
    """A row's pairwise measures (and why one is NaN) and per-map measures of the clean and perturbed map."""

    pairwise: Mapping[str, float]
    nan_reason: str
    clean_map: Mapping[str, float]
    perturbed_map: Mapping[str, float]


def score_row(prediction: Prediction, variant: Variant, condition: Mapping[str, Any], scores: Scores,
              facts: MapFacts) -> dict[str, Any]:
    """One row of ``scores.csv``: one (image, sample, method, baseline treatment, condition).

    In this order: the image and the predictions, the method, the condition's columns (:data:`STANDARD_COLUMNS` and
    its own; :attr:`harness.perturbations.base.Condition.columns`), the pairwise measures, :data:`NAN_REASON`, the
    per-map measures of the clean map and of the perturbed map, the logit changes, the method's facts, the encoding
    and whether the maps are constant. Identifiers and flags are cast to ``int`` / ``bool``; measure values are
    written as given; a missing baseline treatment is written ``""``, a missing step count or completeness error as an
    empty cell.
    """
    p, e, f = prediction, variant, facts
    return {
        IMAGE_ID: int(p.image_id), SAMPLE: int(p.sample), LABEL: int(p.label), PRED: int(p.pred),
        PRED_PERTURBED: int(p.pred_perturbed), PRED_AGREES: bool(p.pred_agrees),
        METHOD: str(e.method), BASELINE_TREATMENT: e.baseline_treatment or "", CONTROL: bool(e.control),
        **condition, **scores.pairwise, NAN_REASON: scores.nan_reason, **scores.clean_map, **scores.perturbed_map,
        TARGET_LOGIT_CHANGE: float(f.target_logit_change), MAX_LOGIT_DIFF: float(f.max_logit_diff),
        EXPLAINED: int(p.explained), N_STEPS: e.n_steps,
        COMPLETENESS_ERROR: None if f.completeness_error is None else float(f.completeness_error),
        COMPLETENESS_ERROR_CLEAN: None if f.completeness_error_clean is None else float(f.completeness_error_clean),
        ENCODING: str(e.encoding), MAP_CONSTANT: bool(f.map_constant), MAP_CONSTANT_CLEAN: bool(f.map_constant_clean),
    }


# The keys of examples.npz.
#: The scope of the clean view (a condition's scope is its key, which holds no ``/``).
CLEAN = "clean"
#: A view's arrays besides its maps: pixel-space images ``(N, C, H, W)``, predicted classes, probabilities ``(N,)``.
VIEW_IMAGE, VIEW_PRED, VIEW_PROB = "image", "pred", "prob"
VIEW_ARRAYS = (VIEW_IMAGE, VIEW_PRED, VIEW_PROB)
#: The treatment part of the key of a map of a method without a baseline.
NO_TREATMENT = "-"
ABSDIFF, ABSDIFF_COUNT, INPUTS = "absdiff", "absdiff_count", "inputs"
_SEP, _JOIN = "/", "+"


def _part(name: str) -> str:
    if not name or _SEP in name:
        raise ValueError(f"an examples.npz key part must be non-empty and hold no '{_SEP}': {name!r}")
    return name


def _treatment(part: str) -> str | None:
    return None if part == NO_TREATMENT else part


def _array(array: str) -> str:
    if array not in VIEW_ARRAYS:
        raise ValueError(f"a view's arrays are {VIEW_ARRAYS}, not {array!r}")
    return array


def view_key(scope: str, array: str) -> str:
    """``<scope>/<array>``: an array of :data:`VIEW_ARRAYS` of the clean view (scope :data:`CLEAN`) or a condition's."""
    return _SEP.join((_part(scope), _array(array)))


def map_key(scope: str, method: str, treatment: str | None) -> str:
    """``<scope>/<method>/<treatment>`` (treatment :data:`NO_TREATMENT` without a baseline): maps ``(N, H, W)``."""
    return _SEP.join((_part(scope), _part(method), _part(treatment or NO_TREATMENT)))


def inputs_key(scope: str, array: str, methods: Iterable[str]) -> str:
    """``<scope>/inputs/<array>/<m1+m2…>``: a view array of a condition whose inputs were made for these methods (an
    attack's)."""
    return _SEP.join((_part(scope), INPUTS, _array(array), _JOIN.join(_part(m) for m in methods)))


def absdiff_key(scope: str, method: str, treatment: str | None, count: bool = False) -> str:
    """``absdiff/<scope>/<method>/<treatment>``: the per-pixel map change ``Σ |Φ' − Φ| / max|Φ|`` ``(n, H, W)``
    (one sum per piece); with ``count``, ``absdiff_count/...``: the number of maps in each sum ``(n,)``."""
    return _SEP.join((ABSDIFF_COUNT if count else ABSDIFF, map_key(scope, method, treatment)))


@dataclass(frozen=True)
class ExampleKey:
    """A key of ``examples.npz``, read back (:func:`parse_key`).

    Attributes:
        kind: ``view``, ``map``, ``inputs``, ``absdiff`` or ``absdiff_count``.
        scope: :data:`CLEAN` or a condition's key.
        array: For ``view`` and ``inputs``: one of :data:`VIEW_ARRAYS`.
        method, treatment: For the maps and their changes (treatment None without a baseline).
        methods: For ``inputs``: the methods the inputs were made for.
    """

    kind: str
    scope: str
    array: str = ""
    method: str = ""
    treatment: str | None = None
    methods: tuple[str, ...] = ()


def parse_key(key: str) -> ExampleKey:
    """What a key built by this module names (a ``ValueError`` for any other string)."""
    parts = key.split(_SEP)
    if parts[0] in (ABSDIFF, ABSDIFF_COUNT) and len(parts) == 4:
        return ExampleKey(parts[0], parts[1], method=parts[2], treatment=_treatment(parts[3]))
    if len(parts) == 2 and parts[1] in VIEW_ARRAYS:
        return ExampleKey("view", parts[0], array=parts[1])
    if len(parts) == 3 and all(parts):
        return ExampleKey("map", parts[0], method=parts[1], treatment=_treatment(parts[2]))
    if len(parts) == 4 and parts[1] == INPUTS and parts[2] in VIEW_ARRAYS:
        return ExampleKey(INPUTS, parts[0], array=parts[2], methods=tuple(parts[3].split(_JOIN)))
    raise ValueError(f"not a key of examples.npz: {key!r}")


def map_columns(examples: Iterable[str]) -> list[tuple[str, str | None]]:
    """The (method, treatment) pairs of the clean maps among the keys ``examples``, in saved order (treatment None
    for a method without a baseline)."""
    maps = []
    for k in examples:
        try:
            p = parse_key(k)
        except ValueError:  # not an array this module names
            continue
        if p.kind == "map" and p.scope == CLEAN:
            maps.append((p.method, p.treatment))
    return maps


# The condition records of run_info.json: the list under CONDITIONS, each with the fields KEY, ..., ACCURACY.
CONDITIONS = "conditions"
KEY, AXIS, ACCURACY = "key", "axis", "accuracy"
_RECORD_FIELDS = (KEY, N_SAMPLES, AXIS, ACCURACY)


class ConditionLike(Protocol):
    """What a record is made from (:class:`harness.perturbations.base.Condition`)."""

    key: str
    columns: Mapping[str, Any]
    n_samples: int
    axis: str

    def info(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class ConditionRecord:
    """One condition as ``run_info.json`` records it, for the report.

    Written flat, ``{"key", <columns>, "n_samples", "axis", <info>, "accuracy"}`` (:meth:`to_json`), and read back by
    position (:meth:`from_json`): the entries between the key and ``n_samples`` are the columns, those after
    ``axis`` the facts of :meth:`Condition.info`.

    Attributes:
        key: The condition's key (the scope of its example arrays).
        columns: Its ``scores.csv`` columns (:data:`STANDARD_COLUMNS` and the family's).
        n_samples: Perturbed copies of each image.
        axis: What the magnitude measures (the figures' x axis).
        info: Facts about the condition (e.g. a retrained network's training accuracy).
        accuracy: Test accuracy of the condition's network on its inputs (None if not measured).
    """

    key: str
    columns: dict[str, Any]
    n_samples: int = 1
    axis: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    accuracy: float | None = None

    @classmethod
    def of(cls, condition: ConditionLike, accuracy: float | None = None) -> ConditionRecord:
        """The record of ``condition``; a column or fact named like a field of the record is refused."""
        columns, info = dict(condition.columns), dict(condition.info())
        clash = [n for n in (*columns, *info) if n in _RECORD_FIELDS] + [n for n in info if n in columns]
        if clash:
            raise ValueError(f"condition {condition.key}: columns and facts may not be named {sorted(set(clash))}")
        return cls(condition.key, columns, condition.n_samples, condition.axis, info, accuracy)

    def to_json(self) -> dict[str, Any]:
        """The flat JSON object written to ``run_info.json``."""
        return {KEY: self.key, **self.columns, N_SAMPLES: self.n_samples, AXIS: self.axis, **self.info,
                ACCURACY: self.accuracy}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> ConditionRecord:
        """The record of a flat JSON object written by :meth:`to_json` (older records may lack fields)."""
        fixed: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        info: dict[str, Any] = {}
        into = columns  # the columns until n_samples or axis, the facts after them
        for name, value in record.items():
            if name in _RECORD_FIELDS:
                fixed[name], into = value, into if name == KEY else info
            else:
                into[name] = value
        return cls(str(fixed.get(KEY, "")), columns, int(fixed.get(N_SAMPLES) or 1), str(fixed.get(AXIS) or ""),
                   info, fixed.get(ACCURACY))

    @property
    def regime(self) -> Any:
        """The :data:`REGIME` column (the panel of the figures)."""
        return self.columns.get(REGIME)

    @property
    def magnitude(self) -> float:
        """The :data:`MAGNITUDE` column as a float (0 where it is missing or empty)."""
        return float(self.columns.get(MAGNITUDE) or 0)

    @property
    def label(self) -> str:
        """The :data:`CONDITION` column (what the magnitude does not say; ``""`` if none)."""
        return self.columns.get(CONDITION) or ""


def read_conditions(info: Mapping[str, Any]) -> list[ConditionRecord]:
    """The condition records of a ``run_info.json`` object (none if it has none)."""
    return [ConditionRecord.from_json(c) for c in info.get(CONDITIONS) or []]
