"""Known divergences as data: where a backend (or Keras everywhere) differs from the reference.

A `Limitation` has an `id`, selects cells by backend, device and case axes, says in one line
why, and links the public report or source that explains it. Limitations are joined to the
raw verdicts when the matrix is merged (`matrix.triage`, the wpt.fyi metadata model), never
during a run: a mismatched cell it covers is `xfailed`, a matched one `xpassed` (the
limitation is stale), and rewording, adding or removing one re-triages committed run files
without rerunning. A limitation that covers no case fails the harness tests. This is the
`Limitation` idea of JAX's test harnesses, checked against what was observed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

#: A name of `Limitation.versions` and the run-file distributions it reads, in order.
VERSION_ALIASES = {"keras": ("keras", "keras-nightly"),
                   "tensorflow": ("tensorflow", "tensorflow-cpu")}


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """What a backend does where a limitation says it differs from the reference.

    Attributes:
        kind: `error` (it raises) or `values` (it returns values).
        error_type: for `error`, the exception class name; None: any.
        nan: for `values`, whether the output holds NaN; None: either.
        cause: for `values`, how the values differ (a verdict cause:
            `values_where_refused`, `values_differ`, `dtype`, `shape`); None: any.
    """

    kind: str
    error_type: str | None = None
    nan: bool | None = None
    cause: str | None = None

    def shown_by(self, kind: str, error_type: str | None, nan_count: int | None,
                 cause: str | None) -> bool:
        """Whether a cell that observed this shows the behaviour (`kind` as observed:
        `value` reads as `values`)."""
        if ("values" if kind == "value" else kind) != self.kind:
            return False
        if kind == "error":
            return self.error_type is None or error_type == self.error_type
        return (self.nan is None or bool(nan_count) == self.nan) and \
            (self.cause is None or cause == self.cause)

    def text(self) -> str:
        """The behaviour in a few words: `raises IndexError`, `values with NaN`."""
        if self.kind == "error":
            return f"raises {self.error_type or 'an error'}"
        nan = "" if self.nan is None else " with NaN" if self.nan else " without NaN"
        return f"values{nan}" + (f" ({self.cause})" if self.cause else "")


@dataclass(frozen=True, kw_only=True)
class Limitation:
    """One known divergence.

    Attributes:
        id: a short stable name, e.g. `jax-take-fills-nan`.
        description: one line: what the backend does instead of what the reference expects.
        link: the upstream issue, doc or source line that explains it.
        backends: the backends it holds on (`keras.backend.backend()` names); empty = all.
        devices: `cpu` / `gpu`; empty = all.
        axes: case axes and the values they must take, e.g. `{"values": ("negative",)}`;
            a case lacking one of these axes is not covered.
        expects: `values` or `error`: cover only cases whose reference expects that (a
            backend that refuses valid input, or one that answers where it must refuse);
            None for both.
        versions: the package versions it holds for: a distribution name and a PEP 440
            specifier set each, pre-releases included (`{"keras": ">=3.16.0.dev0"}`: the
            keras-nightly builds; `{"tensorflow": "<2.22.0rc0"}`). `keras` also reads
            `keras-nightly`, `tensorflow` also `tensorflow-cpu`, from the run file's
            `versions`. Empty: every version. A cell whose run file lacks a named package
            is not covered.
        intermittent: the divergence shows in some runs only (heap corruption, a race): a
            matched cell it covers stays `passed` (with the limitation's id), never
            `xpassed`, and the limitation is never called stale.
        explains: what the backend does instead (`Behaviour`s); a differing cell the
            limitation selects is covered only when it shows one of them (a GPU cell that
            returns zeros where the CPU raised is not explained by the CPU's limitation).
            Empty: any behaviour. Where a record states none, the behaviours observed when
            it was written (`limitation_behaviours.json`, by id) are used.
        observed_on: the devices the behaviours were observed on (`cpu`), for the reader.
        cpu_flags: ISA flags of the host CPU (as `/proc/cpuinfo` names them, e.g.
            `amx_bf16`): the limitation holds only on a host whose CPU has at least one,
            read from the run file's `provenance.host.flags`. A run file that records no
            host is not covered. Empty: any host.
    """

    id: str
    description: str
    link: str
    backends: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    axes: Mapping[str, tuple[str | int, ...]] = field(default_factory=dict)
    expects: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    intermittent: bool = False
    explains: tuple[Behaviour, ...] = ()
    observed_on: tuple[str, ...] = ()
    cpu_flags: tuple[str, ...] = ()

    def holds_on(self, host_flags: Sequence[str] | None) -> bool:
        """Whether the limitation holds on a host with these CPU flags (`cpu_flags`; None:
        the run file records no host)."""
        if not self.cpu_flags:
            return True
        return host_flags is not None and bool(set(self.cpu_flags) & set(host_flags))

    def explains_cell(self, kind: str, error_type: str | None, nan_count: int | None,
                      cause: str | None) -> bool:
        """Whether a differing cell with this observation shows what the limitation says
        (always, when it says nothing: `explains` empty)."""
        return not self.explains or any(
            b.shown_by(kind, error_type, nan_count, cause) for b in self.explains)

    def holds_for(self, installed: Mapping[str, str] | None) -> bool:
        """Whether the limitation holds for these installed versions (`versions`).

        Args:
            installed: distribution name -> version, as a run file records them; None when
                unknown.

        Raises:
            ValueError: a specifier that is no PEP 440 specifier set (names the limitation).
        """
        if not self.versions:
            return True
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version

        for name, spec in self.versions.items():
            try:
                wanted = SpecifierSet(spec, prereleases=True)
            except InvalidSpecifier as exc:
                raise ValueError(f"limitation {self.id}: field `versions`: {name}: {spec!r} "
                                 "is not a PEP 440 specifier set such as '>=3.16.0.dev0'"
                                 ) from exc
            found = next((installed[n] for n in VERSION_ALIASES.get(name, (name,))
                          if installed and installed.get(n)), None)
            try:
                # a local label (torch's 2.13.0+cpu) does not change the release
                if found is None or Version(found.split("+")[0]) not in wanted:
                    return False
            except InvalidVersion:
                return False
        return True

    def covers(self, axes: Mapping[str, str | int], backend: str, device: str,
               expected: str = "", installed: Mapping[str, str] | None = None,
               facts: Mapping[str, Sequence[str]] | None = None,
               host_flags: Sequence[str] | None = ()) -> bool:
        """Whether this limitation covers a case with these `axes` on `backend` and `device`.

        Args:
            expected: the reference's answer in words (`values`, `error (...)`), checked
                against `expects`.
            installed: the versions the cell's run file records, checked against
                `versions`.
            facts: what the case's program does (`cases.facts.program_facts`). For a key
                found there, the limitation's values must meet the facts' (any program step
                calling a listed API, any listed class among its ids), whatever the case's
                labels say; other keys are read from `axes`. None (a run file written
                before facts were recorded): `axes` only.
            host_flags: the ISA flags of the run's host CPU (`cpu_flags`); None when the
                run file records no host.
        """
        if self.backends and backend not in self.backends:
            return False
        if self.devices and device not in self.devices:
            return False
        if self.expects is not None and not expected.startswith(self.expects):
            return False
        if not self.holds_for(installed) or not self.holds_on(host_flags):
            return False
        return all(bool(set(facts[key]) & set(values)) if facts is not None and key in facts
                   else key in axes and axes[key] in values
                   for key, values in self.axes.items())


def covering(limitations: Sequence[Limitation], axes: Mapping[str, str | int], backend: str,
             device: str, expected: str = "", installed: Mapping[str, str] | None = None,
             facts: Mapping[str, Sequence[str]] | None = None,
             host_flags: Sequence[str] | None = ()) -> Limitation | None:
    """The first limitation that covers the cell (`Limitation.covers`), or None."""
    for limitation in limitations:
        if limitation.covers(axes, backend, device, expected, installed, facts, host_flags):
            return limitation
    return None


KERAS_EMBEDDING_SRC = (
    "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/core/embedding.py"
)

JAX_TAKE_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.numpy.take.html"

XLA_GATHER_DOC = "https://openxla.org/xla/operation_semantics#gather"

#: OpenVINO's own words: Gather-8 fills the output for an index outside the bounds with zeros.
OPENVINO_GATHER_DOC = (
    "https://docs.openvino.ai/latest/classov_1_1pass_1_1ConvertNmsGatherPathToUnsigned.html"
)
KERAS_NUMPY_SRC = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/numpy"
OPENVINO_CPU_DOC = ("https://docs.openvino.ai/2024/openvino-workflow/running-inference/"
                    "inference-devices-and-modes/cpu-device.html")
OPENVINO_BF16 = (
    "OpenVINO's CPU plugin runs float32 models in bfloat16 where the CPU has AMX or "
    "AVX512_BF16 (its default INFERENCE_PRECISION_HINT; this matrix's Xeon has both, and "
    "the limitation holds only on such hosts): "
    "compiled predict of RNNs, attention and Dense differs from float32 by up to about 1e-3; "
    "with the hint set to f32 it matches")
#: The ISA flags with which OpenVINO's CPU plugin defaults to bfloat16 inference precision
#: (`OPENVINO_CPU_DOC`, section on floating-point precision: native bfloat16 support, that is
#: AVX512_BF16 or AMX; the 2021.3 page "Bfloat16 Inference" asks for `avx512_bf16` in
#: `/proc/cpuinfo`), as `/proc/cpuinfo` names them.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
PAST_INT32 = "4294967303"  # 2**32 + 7: int32 truncation makes it id 7
#: Subjects whose out-of-range indices reach a gather (XLA's clamps, JAX's fill).
GATHERS = ("layers.Embedding", "ops.take", "ops.take_along_axis")
FLOATS = ("float16", "float32", "float64")
#: Id dtypes that reach XLA's gather under jit_compile on TensorFlow (Embedding casts every
#: dtype to int32 first; keras.ops.take passes int16/int32/int64 through, refuses the rest).
XLA_INDICES = ("int16", "int32", "int64")
#: Id dtypes that reach JAX's gather: every integer dtype (floats are refused by keras.ops,
#: and by Embedding only after its cast, which is why the Embedding cells of float ids count).
JAX_GATHERED = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
#: Index dtypes TensorFlow's gather and segment kernels refuse (they take int16/int32/int64).
TF_REFUSED_INDICES = ("int8", "uint8", "uint16", "uint32", "uint64", "bool")
KERAS_SRC = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/"
NO_REPORT = "; found by this matrix, no public report known"

# Order matters: a cell takes the first limitation that covers it.
LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="tf-index-dtypes",
        description="TensorFlow's gather and segment kernels take int16, int32 or int64 indices "
                    "only: keras.ops.take, segment_sum and segment_max with int8, unsigned or "
                    "bool indices raise (InvalidArgumentError eagerly, TypeError in a graph); "
                    "Embedding casts its ids first and is not affected",
        link="https://www.tensorflow.org/api_docs/python/tf/gather",
        backends=("tensorflow",),
        axes={"subject": ("ops.take", "ops.segment_sum", "ops.segment_max"),
              "input_dtype": TF_REFUSED_INDICES},
        expects="values",
    ),
    Limitation(
        id="tf-index-dtypes-in-a-graph",
        description="In a graph (predict, jit_compile) TensorFlow refuses int8, unsigned and "
                    "bool indices with a TypeError before it can check their range, so an "
                    "out-of-range index is refused for its dtype, not its value",
        link="https://www.tensorflow.org/api_docs/python/tf/gather",
        backends=("tensorflow",),
        axes={"subject": ("ops.take",), "input_dtype": TF_REFUSED_INDICES,
              "mode": ("predict", "jit_compile")},
        expects="error",
    ),
    Limitation(
        id="tf-segment-sum-int16-drops-negative",
        description="TensorFlow's unsorted_segment_sum with int16 ids drops a negative id "
                    "silently, as for int32 and int64 (documented)",
        link="https://www.tensorflow.org/api_docs/python/tf/math/unsorted_segment_sum",
        backends=("tensorflow",),
        axes={"subject": ("ops.segment_sum",), "input_dtype": ("int16",),
              "values": ("negative",), "mode": ("eager",)},
        expects="error",
    ),
    Limitation(
        id="tf-segment-max-int16",
        description="TensorFlow's unsorted_segment_max takes int32 or int64 segment ids only "
                    "(segment_sum also takes int16)",
        link="https://www.tensorflow.org/api_docs/python/tf/math/unsorted_segment_max",
        backends=("tensorflow",),
        axes={"subject": ("ops.segment_max",), "input_dtype": ("int16",), "mode": ("eager",)},
        expects="values",
    ),
    Limitation(
        id="openvino-segment-ops-functional",
        description="A functional model around ops.segment_sum or ops.segment_max with integer "
                    "segment ids cannot be built on the openvino backend: ValueError "
                    f"'unsupported type of `x` to create ov.Output: KerasTensor'{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "values": ("in_range",),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              "uint64"),
              "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="numpy-segment-ops-symbolic-build",
        description="A functional model around ops.segment_sum or ops.segment_max with integer "
                    "segment ids cannot be built on the numpy backend: the symbolic call "
                    "raises ValueError 'A KerasTensor is symbolic' (its num_segments is read "
                    f"from the data){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py",
        backends=("numpy",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              "uint64"),
              "values": ("in_range",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="segment-ops-not-symbolic",
        description="keras.ops.segment_sum and segment_max cannot be called on a KerasTensor: "
                    "in a functional model (predict, jit_compile) they raise 'A KerasTensor "
                    "cannot be used as input to a ... function'" + NO_REPORT,
        link=KERAS_SRC + "ops/math.py",
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "mode": ("predict", "jit_compile")},
        expects="values",
    ),
    Limitation(
        id="numpy-digitize-symbolic-build",
        description="A functional model around ops.digitize cannot be built on the numpy "
                    "and openvino backends: the symbolic call raises AttributeError "
                    f"\"'list' object has no attribute 'shape'\" (eager works){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy", "openvino"),
        axes={"subject": ("ops.digitize",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="digitize-list-bins-not-symbolic",
        description="keras.ops.digitize with bins given as a Python list fails in a functional "
                    "model ('list' object has no attribute 'shape')" + NO_REPORT,
        link=KERAS_SRC + "ops/numpy.py",
        axes={"subject": ("ops.digitize",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="index-ops-accept-float-indices",
        description="keras.ops.one_hot and multi_hot accept float index tensors and truncate "
                    "them on every backend, where the Keras docs ask for an integer tensor and "
                    "NumPy, whose API keras.ops mirrors, refuses float indices",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take.html",
        axes={"subject": ("ops.one_hot", "ops.multi_hot"), "input_dtype": FLOATS},
        expects="error",
    ),
    Limitation(
        id="take-along-axis-and-bincount-accept-float-indices",
        description="keras.ops.take_along_axis and bincount accept float indices and truncate "
                    "them on TensorFlow and torch, where NumPy (and JAX) refuse float indices",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take_along_axis.html",
        backends=("tensorflow", "torch"),
        axes={"subject": ("ops.take_along_axis", "ops.bincount"), "input_dtype": FLOATS,
              "values": ("in_range",)},
        expects="error",
    ),
    Limitation(
        id="take-along-axis-wraps-float-indices",
        description="keras.ops.take_along_axis accepts a negative float index, truncates and "
                    "wraps it, where NumPy refuses float indices",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take_along_axis.html",
        backends=("tensorflow", "torch"),
        axes={"subject": ("ops.take_along_axis",), "input_dtype": FLOATS,
              "values": ("negative",), "bad_id": ("-1",), "mode": ("eager", "predict")},
        expects="error",
    ),
    Limitation(
        id="torch-one-hot-uint64-in-a-graph",
        description="keras.ops.one_hot of uint64 ids works eagerly on torch but a functional "
                    "model refuses them ('Unsupported dtype for PyTorch: uint64')",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": ("ops.one_hot",), "input_dtype": ("uint64",),
              "mode": ("predict", "jit_compile")},
        expects="values",
    ),
    Limitation(
        id="torch-take-accepts-float-indices",
        description="keras.ops.take accepts float indices and truncates them on torch; "
                    "TensorFlow and JAX refuse them as NumPy does",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take.html",
        backends=("torch",),
        axes={"subject": ("ops.take",), "input_dtype": FLOATS},
        expects="error",
    ),
    Limitation(
        id="segments-accept-float-ids-eagerly",
        description="keras.ops.segment_sum and segment_max called directly accept float "
                    "segment ids on torch (a functional model refuses them; so do TensorFlow "
                    "and JAX)",
        link="https://numpy.org/doc/stable/reference/generated/numpy.take.html",
        backends=("torch",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "input_dtype": FLOATS,
              "mode": ("eager",)},
        expects="error",
    ),
    Limitation(
        id="torch-take-along-axis-no-bounds-check",
        description="keras.ops.take_along_axis on torch returns values for an index outside "
                    "[-n, n) instead of refusing it" + NO_REPORT,
        link=KERAS_SRC + "backend/torch/numpy.py",
        backends=("torch",),
        axes={"subject": ("ops.take_along_axis",), "values": ("out_of_range", "negative"),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              *FLOATS)},
        expects="error",
    ),
    Limitation(
        id="xla-take-along-axis-jit",
        description="Under jit_compile, keras.ops.take_along_axis on TensorFlow returns values "
                    "for indices outside [-n, n) of any dtype (XLA's gather clamps), where "
                    "eagerly it raises",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("ops.take_along_axis",), "values": ("negative", "out_of_range"),
              "mode": ("jit_compile",)},
        expects="error",
    ),
    Limitation(
        id="torch-one-hot-refuses-out-of-range",
        description="torch.nn.functional.one_hot raises for a class >= num_classes ('Class "
                    "values must be smaller than num_classes'), where TensorFlow and JAX give a "
                    "row of zeros: keras.ops.one_hot, multi_hot and CategoryEncoding on torch",
        link="https://pytorch.org/docs/stable/generated/torch.nn.functional.one_hot.html",
        backends=("torch",),
        axes={"subject": ("ops.one_hot", "ops.multi_hot"), "values": ("out_of_range",)},
        expects="values",
    ),
    Limitation(
        id="numpy-category-encoding-index-error",
        description="CategoryEncoding refuses an id >= num_tokens on the numpy backend, but "
                    "with NumPy's IndexError (the fancy indexing in ops.one_hot), not the "
                    f"ValueError or InvalidArgumentError the reference names{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/nn.py",
        backends=("numpy",),
        axes={"subject": ("layers.CategoryEncoding",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="openvino-category-encoding-no-range-check",
        description="CategoryEncoding returns values for an id >= num_tokens on the openvino "
                    "backend (the id's column stays empty) instead of refusing it as the "
                    f"reference does{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/"
             "preprocessing/category_encoding.py",
        backends=("openvino",),
        axes={"subject": ("layers.CategoryEncoding",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="category-encoding-no-range-check",
        description="CategoryEncoding does not check ids against num_tokens: an id past it is "
                    "dropped silently on TensorFlow and JAX, and torch raises one_hot's "
                    "RuntimeError instead of a ValueError" + NO_REPORT,
        link=KERAS_SRC + "layers/preprocessing/category_encoding.py",
        axes={"subject": ("layers.CategoryEncoding",), "values": ("out_of_range",)},
        expects="error",
    ),
    Limitation(
        id="tf-segment-drops-negative-ids",
        description="TensorFlow's unsorted segment ops drop a negative segment id silently "
                    "(documented), where the reference refuses it",
        link="https://www.tensorflow.org/api_docs/python/tf/math/unsorted_segment_sum",
        backends=("tensorflow",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "values": ("negative",),
              "mode": ("eager",), "input_dtype": ("int32", "int64")},
        expects="error",
    ),
    Limitation(
        id="jax-segment-drops-out-of-range-ids",
        description="JAX's segment ops drop segment ids outside [0, num_segments) silently",
        link="https://docs.jax.dev/en/latest/_autosummary/jax.ops.segment_sum.html",
        backends=("jax",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "values": ("out_of_range", "negative"), "mode": ("eager",),
              "input_dtype": JAX_GATHERED},
        expects="error",
    ),
    Limitation(
        id="torch-segment-ignores-ids-past-num-segments",
        description="keras.ops.segment_sum and segment_max on torch return values for a "
                    "segment id outside [0, num_segments) instead of refusing it" + NO_REPORT,
        link=KERAS_SRC + "backend/torch/math.py",
        backends=("torch",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "values": ("out_of_range", "negative"), "mode": ("eager",),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")},
        expects="error",
    ),
    Limitation(
        id="openvino-bincount-negative",
        description="ops.bincount returns counts on the openvino backend for a negative value "
                    f"instead of refusing it as the reference does{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.bincount",), "values": ("negative",),
              "input_dtype": ("int8", "int16", "int32", "int64")},
    ),
    Limitation(
        id="bincount-negative-values",
        description="keras.ops.bincount of negative values: TensorFlow raises "
                    "InvalidArgumentError eagerly and returns counts under XLA (from 2.22.0rc0 "
                    "raises InvalidArgumentError there too), torch raises "
                    "RuntimeError (not NumPy's ValueError), JAX returns counts" + NO_REPORT,
        link="https://numpy.org/doc/stable/reference/generated/numpy.bincount.html",
        backends=("tensorflow", "jax", "torch", "openvino"),  # NumPy raises ValueError
        axes={"subject": ("ops.bincount",), "values": ("negative",),
              "input_dtype": ("int8", "int16", "int32", "int64")},
        expects="error",
    ),
    Limitation(
        id="tf-bincount-negative-under-xla",
        description="Under jit_compile, TensorFlow up to 2.21 counts negative values in "
                    "bincount instead of refusing them (XLA has no runtime check); "
                    "TensorFlow 2.22.0rc0 raises InvalidArgumentError" + NO_REPORT,
        link="https://openxla.org/xla/operation_semantics",
        backends=("tensorflow",),
        axes={"subject": ("ops.bincount",), "values": ("negative",), "mode": ("jit_compile",)},
        expects="error",
        versions={"tensorflow": "<2.22.0rc0"},
    ),
    Limitation(
        id="torch-bincount-floats",
        description="torch's bincount takes integers only: float values raise "
                    "NotImplementedError ('\"bincount_cpu\" not implemented for \'Float\'')",
        link="https://pytorch.org/docs/stable/generated/torch.bincount.html",
        backends=("torch",),
        axes={"subject": ("ops.bincount",), "input_dtype": FLOATS},
    ),
    Limitation(
        id="jax-bincount-not-compilable",
        description="keras.ops.bincount cannot be traced by JAX (its output length depends on "
                    "the data): predict and jit_compile raise" + NO_REPORT,
        link="https://docs.jax.dev/en/latest/errors.html",
        backends=("jax",),
        axes={"subject": ("ops.bincount",), "mode": ("predict", "jit_compile"),
              "input_dtype": JAX_GATHERED},
    ),
    Limitation(
        id="tf-searchsorted-nd-values",
        description="tf.searchsorted needs values with the same leading dimensions as a 1-D "
                    "sorted sequence broadcast: keras.ops.searchsorted of (2, 3) float32 "
                    "values raises on TensorFlow up to Keras 3.15 (keras-nightly 3.16.0.dev "
                    "flattens the values first and matches the reference)",
        link="https://www.tensorflow.org/api_docs/python/tf/searchsorted",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "mode": ("eager", "predict"),
              "input_dtype": ("float32",)},
        versions={"keras": "<3.16.0.dev0"},
    ),
    Limitation(
        id="tf-searchsorted-values-dtype",
        description="tf.searchsorted needs values of the sorted sequence's dtype: "
                    "keras.ops.searchsorted of int32 values into a float32 sequence raises "
                    "InvalidArgumentError on TensorFlow (keras-nightly 3.16.0.dev too)",
        link="https://www.tensorflow.org/api_docs/python/tf/searchsorted",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "mode": ("eager", "predict"),
              "input_dtype": ("int32",)},
    ),
    Limitation(
        id="tf-searchsorted-int-values-under-xla",
        description="Under jit_compile, TensorFlow's searchsorted of int32 values into a "
                    "float sequence raises TypeError (float values run)",
        link="https://www.tensorflow.org/api_docs/python/tf/searchsorted",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "input_dtype": ("int32",),
              "mode": ("jit_compile",)},
    ),
    Limitation(
        id="jax-float64-computed-in-float32",
        description="float64 inputs are computed in float32 by JAX without jax_enable_x64",
        link="https://docs.jax.dev/en/latest/default_dtypes.html",
        backends=("jax",),
        axes={"subject": ("ops.top_k",), "input_dtype": ("float64",), "item": ("values",)},
    ),
    Limitation(
        id="predict-casts-float64-to-float32",
        description="Model.predict on TensorFlow and torch computes a float64 input in float32 "
                    "(the model's input is cast to floatx)" + NO_REPORT,
        link=KERAS_SRC + "trainers/data_adapters/data_adapter_utils.py",
        backends=("tensorflow", "torch"),
        axes={"subject": ("ops.top_k",), "input_dtype": ("float64",), "item": ("values",),
              "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="jax-bool-indices",
        description="JAX refuses bool index tensors in keras.ops.one_hot ('iota does not accept "
                    "dtype bool') and take_along_axis ('indices must be of integer type'), "
                    "where TensorFlow and torch read them as 0 and 1",
        link="https://docs.jax.dev/en/latest/_autosummary/jax.numpy.take_along_axis.html",
        backends=("jax",),
        axes={"subject": ("ops.one_hot", "ops.take_along_axis"), "input_dtype": ("bool",)},
        expects="values",
    ),
    Limitation(
        id="jax-sparse-crossentropy-out-of-range",
        description="SparseCategoricalCrossentropy does not validate labels on JAX: a label "
                    "outside [0, classes) gives a finite loss silently (TensorFlow raises "
                    "InvalidArgumentError, torch IndexError 'Target out of bounds')",
        link="https://github.com/keras-team/keras/issues/23664",
        backends=("jax",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",),
              "values": ("out_of_range", "negative")},
    ),
    Limitation(
        id="jax-top-k-accuracy-negative-label",
        description="SparseTopKCategoricalAccuracy on JAX and torch counts a label of -1 as a "
                    "hit (the label indexes the predictions from the end)" + NO_REPORT,
        link=KERAS_SRC + "metrics/accuracy_metrics.py",
        backends=("jax", "torch"),
        axes={"subject": ("metrics.SparseTopKCategoricalAccuracy",), "values": ("negative",)},
    ),
    Limitation(
        id="lookup-layers-need-tensorflow",
        description="IntegerLookup, StringLookup, TextVectorization and Hashing are built on "
                    "TensorFlow: on every other backend without TensorFlow installed (none of "
                    "this matrix's JAX, PyTorch, NumPy and OpenVINO environments installs it) "
                    "the constructor raises ImportError 'Layer ... requires TensorFlow'",
        link="https://github.com/keras-team/keras/issues/21255",
        backends=("jax", "torch", "numpy", "openvino"),
        axes={"subject": ("layers.IntegerLookup", "layers.StringLookup",
                          "layers.TextVectorization", "layers.Hashing")},
    ),
    Limitation(
        id="predict-refuses-numpy-strings",
        description="Model.predict refuses a NumPy array of str ('Invalid dtype: str32'): "
                    "string inputs reach a model only as tf.Tensor or tf.data" + NO_REPORT,
        link=KERAS_SRC + "trainers/data_adapters/array_data_adapter.py",
        backends=("tensorflow",),
        axes={"subject": ("layers.StringLookup", "layers.TextVectorization",
                          "layers.Hashing"),
              "input_dtype": ("string",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="predict-empty-batch",
        description="Model.predict on an empty batch (0, steps) raises UnboundLocalError "
                    "('batch_outputs') on every backend instead of returning an empty output",
        link="https://github.com/astrolabsoftware/fink-science/issues/642",
        axes={"batch": ("empty",), "mode": ("predict", "jit_compile")},
    ),
    Limitation(
        id="tf-lstm-empty-batch",
        description="LSTM on an empty batch raises on TensorFlow ('Biases must be 1D: "
                    "[0,12]'): seen with Keras 3.12.0 to 3.15.1 (bisect; 3.7 to 3.11 do not "
                    "install beside TensorFlow 2.21), not with 3.6.0 (TensorFlow 2.17.1) nor "
                    "keras-nightly 3.16.0.dev (with TensorFlow 2.21 as with 2.22.0rc0), which "
                    "return the (0, units) output" + NO_REPORT,
        link="https://www.tensorflow.org/api_docs/python/tf/nn/bias_add",
        backends=("tensorflow",),
        axes={"batch": ("empty",), "subject": ("layers.LSTM",)},
        versions={"keras": ">3.6.0,<3.16.0.dev0"},
    ),
    Limitation(
        id="rnn-single-gru-cell-reset-before",
        description="RNN(cell=[GRUCell(reset_after=False)]) with a mask cannot run: "
                    "TensorFlow raises 'The two structures don't have the same nested "
                    "structure', JAX 'Expected an instance of list'" + NO_REPORT,
        link=KERAS_SRC + "layers/rnn/stacked_rnn_cells.py",
        backends=("tensorflow",),
        axes={"variant": ("gru_reset_before",), "mask": ("mask_zero",)},
    ),
    Limitation(
        id="jax-rnn-single-gru-cell-reset-before",
        description="RNN(cell=[GRUCell(reset_after=False)]) cannot run on JAX, masked or not: "
                    "'scan body function carry input and carry output must have the same pytree "
                    "structure' (or 'Expected an instance of list' with a mask)" + NO_REPORT,
        link=KERAS_SRC + "backend/jax/rnn.py",
        backends=("jax",),
        axes={"variant": ("gru_reset_before",)},
    ),
    Limitation(
        id="torch-unroll-go-backwards-mask",
        description="LSTM, GRU and SimpleRNN with unroll=True, go_backwards=True and a mask "
                    "raise AttributeError on torch ('tuple' object has no attribute 'shape')"
                    + NO_REPORT,
        link=KERAS_SRC + "backend/torch/rnn.py",
        backends=("torch",),
        axes={"unroll": ("true",), "go_backwards": ("true",), "mask": ("mask_zero",)},
    ),
    Limitation(
        id="xla-gather-clamps-jit",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow returns a valid row for an id >= input_dim instead of raising "
                    "as it does eagerly",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "mode": ("jit_compile",),
              "values": ("out_of_range",), "input_dtype": XLA_INDICES},
    ),
    Limitation(
        id="xla-gather-clamps-jit-embedding",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow's Embedding returns a valid row for an id >= input_dim instead "
                    "of raising as it does eagerly",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("layers.Embedding",), "mode": ("jit_compile",),
              "values": ("out_of_range",)},
    ),
    Limitation(
        id="xla-gather-clamps-negative-jit",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow returns a valid row for an id below -input_dim",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "mode": ("jit_compile",),
              "values": ("negative",), "bad_id": ("-11", "-6"), "input_dtype": XLA_INDICES},
    ),
    Limitation(
        id="xla-gather-clamps-negative-jit-embedding",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow's Embedding returns a valid row for an id below -input_dim",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"subject": ("layers.Embedding",), "mode": ("jit_compile",),
              "values": ("negative",), "bad_id": ("-11",)},
    ),
    Limitation(
        id="jax-x64-still-wraps-int64",
        description="even with jax_enable_x64 turned on (jax.config.update at run time), an "
                    "int64 id of 2**32 + 7 reaches the gather as 7 and returns row 7 with no "
                    "error; found by this matrix, no public report known",
        link="https://docs.jax.dev/en/latest/default_dtypes.html",
        backends=("jax",),
        axes={"jax_x64": ("x64_on",), "bad_id": (PAST_INT32,)},
    ),
    Limitation(
        id="jax-int32-wraps-past-2-32",
        description="ids are cast to int32 (JAX without x64), so 2**32 + 7 wraps to the valid "
                    "id 7 and returns that row with no error",
        link="https://docs.jax.dev/en/latest/default_dtypes.html",
        backends=("jax",),
        axes={"subject": ("layers.Embedding",), "values": ("out_of_range",),
              "bad_id": (PAST_INT32,)},
    ),
    Limitation(
        id="torch-embedding-casts-int64-to-int32",
        description="Embedding.call casts int64 ids to int32 on torch (its dtype test compares "
                    "a torch dtype with the string 'int64'), so 2**32 + 7 wraps to id 7",
        link=KERAS_EMBEDDING_SRC,
        backends=("torch",),
        axes={"values": ("out_of_range",), "bad_id": (PAST_INT32,), "input_dtype": ("int64",)},
    ),
    Limitation(
        id="tf-embedding-casts-uint64-to-int32",
        description="Embedding.call casts uint64 ids to int32, so 2**32 + 7 wraps to id 7 "
                    "with no error",
        link=KERAS_EMBEDDING_SRC,
        backends=("tensorflow",),
        axes={"values": ("out_of_range",), "bad_id": (PAST_INT32,),
              "input_dtype": ("uint64",)},
    ),
    Limitation(
        id="embedding-casts-uint64-to-int32-inference",
        description="Embedding.call casts uint64 ids to int32 on the numpy and openvino "
                    "backends too, so 2**32 + 7 wraps to id 7 with no error",
        link=KERAS_EMBEDDING_SRC,
        backends=("numpy", "openvino"),
        axes={"values": ("out_of_range",), "bad_id": (PAST_INT32,),
              "input_dtype": ("uint64",)},
    ),
    Limitation(
        id="openvino-gather-fills-zeros",
        description="OpenVINO's Gather fills the output for an out-of-bounds index with zeros: "
                    "an id >= input_dim silently becomes a row of zeros (eager and predict)",
        link=OPENVINO_GATHER_DOC,
        backends=("openvino",),
        axes={"subject": ("layers.Embedding", "ops.take"), "values": ("out_of_range",)},
    ),
    Limitation(
        id="openvino-gather-fills-zeros-negative",
        description="OpenVINO's Gather fills the output for an index below -input_dim with "
                    "zeros: id -11 of a 10-row table silently becomes a row of zeros",
        link=OPENVINO_GATHER_DOC,
        backends=("openvino",),
        axes={"subject": ("layers.Embedding", "ops.take"), "values": ("negative",),
              "bad_id": ("-11",)},
    ),
    Limitation(
        id="openvino-take-along-axis-out-of-range",
        description="ops.take_along_axis on the openvino backend fails for an index past the "
                    "axis with RuntimeError '`convert_to_numpy` failed to convert the tensor' "
                    f"instead of the reference's IndexError{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.take_along_axis",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="openvino-take-along-axis-fills-zeros-negative",
        description="ops.take_along_axis on the openvino backend returns values for an index "
                    "below -size (-6 on an axis of 5) instead of refusing it (its Gather "
                    "fills out-of-bounds indices with zeros)",
        link=OPENVINO_GATHER_DOC,
        backends=("openvino",),
        axes={"subject": ("ops.take_along_axis",), "values": ("negative",), "bad_id": ("-6",)},
    ),
    Limitation(
        id="openvino-segment-ops-uint32",
        description="ops.segment_sum and ops.segment_max refuse uint32 segment ids on the "
                    "openvino backend: OpenVINO's type checks (Concat, SegmentMax) raise "
                    f"RuntimeError{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "input_dtype": ("uint32",),
              "mode": ("eager",)},
    ),
    Limitation(
        id="numpy-negative-ids-ignored",
        description="On the numpy backend a negative id is dropped or wrapped, never refused: "
                    "ops.segment_sum and ops.segment_max skip negative segment ids "
                    "(_segment_reduction_fn: 'Ignore segment_ids that are -1'), "
                    "SparseCategoricalCrossentropy one-hot encodes a negative label as a row "
                    "of zeros (no error), and SparseTopKCategoricalAccuracy reads the "
                    f"prediction at index -1{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py#L17",
        backends=("numpy",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max",
                          "losses.SparseCategoricalCrossentropy",
                          "metrics.SparseTopKCategoricalAccuracy"),
              "values": ("negative",), "mode": ("eager",)},
    ),
    Limitation(
        id="openvino-8bit-indices",
        description="ops.one_hot, ops.multi_hot and ops.bincount of int8 or uint8 indices fail "
                    "on the openvino backend with RuntimeError (eagerly '`convert_to_numpy` "
                    "failed to convert the tensor' or 'An OpenVINOKerasTensor is symbolic', "
                    f"in predict an exception from OpenVINO's core.cpp){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "nn.py",
        backends=("openvino",),
        axes={"subject": ("ops.one_hot", "ops.multi_hot", "ops.bincount"),
              "input_dtype": ("int8", "uint8")},
    ),
    Limitation(
        id="openvino-segment-ids-dtype",
        description="ops.segment_sum and ops.segment_max on the openvino backend refuse segment "
                    "ids of most dtypes with RuntimeError from OpenVINO's type checks: "
                    "segment_max accepts int32 and int64 ids only ('segment_ids_element_type "
                    "== element::i32 || ...'), segment_sum int32 only ('element::Type::merge' "
                    f"of its inputs){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"), "values": ("in_range",),
              "mode": ("eager",),
              "input_dtype": ("int8", "int16", "uint8", "uint16", "uint64", "float16",
                              "float32", "float64")},
    ),
    Limitation(
        id="openvino-segment-sum-int64-ids",
        description="ops.segment_sum on the openvino backend refuses int64 segment ids with "
                    "RuntimeError ('element::Type::merge' of its inputs: the ids must have the "
                    f"data's int32 type), where segment_max accepts them{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum",), "values": ("in_range",), "mode": ("eager",),
              "input_dtype": ("int64",)},
    ),
    Limitation(
        id="openvino-segment-ops-no-range-check",
        description="ops.segment_sum and ops.segment_max return values on the openvino "
                    "backend for a segment id >= num_segments or a negative one instead of "
                    f"refusing it as the reference does{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "values": ("out_of_range", "negative"), "mode": ("eager",)},
    ),
    Limitation(
        id="openvino-index-ops-non-integer-indices",
        description="Fed float or bool indices, the index ops on the openvino backend stop at "
                    "OpenVINO's element-type checks (RuntimeError, e.g. Gather's "
                    "'get_input_element_type(1).is_integral_number()', OneHot's "
                    "'indices_et.is_integral()') or, for take_along_axis, return values, where "
                    f"the reference expects values or names other errors{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.take", "ops.take_along_axis", "ops.one_hot", "ops.multi_hot",
                          "ops.bincount"),
              "input_dtype": ("float16", "float32", "float64", "bool")},
    ),
    Limitation(
        id="openvino-multi-hot-functional",
        description="A functional model around ops.multi_hot cannot run predict on the "
                    "openvino backend: RuntimeError 'An OpenVINOKerasTensor is symbolic' for "
                    f"every index dtype{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("ops.multi_hot",), "mode": ("predict",)},
    ),
    Limitation(
        id="openvino-scce-no-label-check",
        description="SparseCategoricalCrossentropy returns a loss on the openvino backend for "
                    "a label >= the number of classes or a negative one instead of refusing it "
                    f"(the label's one-hot row is empty){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "nn.py",
        backends=("openvino",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",),
              "values": ("out_of_range", "negative")},
    ),
    Limitation(
        id="openvino-top-k-accuracy-bad-labels",
        description="SparseTopKCategoricalAccuracy on the openvino backend raises RuntimeError "
                    "'An OpenVINOKerasTensor is symbolic' for a label >= the number of classes "
                    f"and counts a negative label differently from the reference{NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("metrics.SparseTopKCategoricalAccuracy",),
              "values": ("out_of_range", "negative")},
    ),
    Limitation(
        id="openvino-empty-batch-aborts",
        description="An empty batch (0, 3) through masked LSTM or GlobalAveragePooling1D "
                    "eagerly on the openvino backend corrupts the heap and usually aborts the "
                    "process (glibc 'free(): invalid next size'); heap corruption is not "
                    "deterministic: GlobalAveragePooling1D crashed in the run of 94b2189 and "
                    "matched in the one of 779cac8 (same versions). A crash is never xfailed, "
                    f"so a crashed cell stays `crashed` with this note{NO_REPORT}",
        link="https://github.com/keras-team/keras/tree/v3.15.1/keras/src/backend/openvino",
        backends=("openvino",),
        axes={"batch": ("empty",), "mode": ("eager",),
              "subject": ("layers.LSTM", "layers.GlobalAveragePooling1D")},
        intermittent=True,
    ),
    Limitation(
        id="openvino-multi-hot-predict-symbolic",
        description="CategoryEncoding(output_mode='multi_hot') in predict on the openvino "
                    "backend raises RuntimeError 'An OpenVINOKerasTensor is symbolic' (eager "
                    f"works){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "numpy.py",
        backends=("openvino",),
        axes={"subject": ("layers.CategoryEncoding",), "output_mode": ("multi_hot",),
              "mode": ("predict",)},
    ),
    Limitation(
        id="numpy-one-hot-out-of-range-index-error",
        description="ops.one_hot and ops.multi_hot raise NumPy's IndexError on the numpy "
                    "backend for an id >= num_classes, where the reference (and the other "
                    f"backends) give an all-zero row{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/nn.py",
        backends=("numpy",),
        axes={"subject": ("ops.one_hot", "ops.multi_hot"), "values": ("out_of_range",)},
    ),
    Limitation(
        id="numpy-in-top-k-out-of-range-index-error",
        description="SparseTopKCategoricalAccuracy raises NumPy's IndexError on the numpy "
                    "backend for a label >= the number of classes (its in_top_k indexes the "
                    f"predictions with it), where the reference counts a miss{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py",
        backends=("numpy",),
        axes={"subject": ("metrics.SparseTopKCategoricalAccuracy",),
              "values": ("out_of_range",)},
    ),
    Limitation(
        id="numpy-rnn-gru-reset-before",
        description="RNN(GRUCell(reset_after=False)) over a masked sequence fails on the numpy "
                    "backend with ValueError 'Expected an instance of list, got array' (its "
                    f"rnn loop gets the cell's state as an array){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/rnn.py",
        backends=("numpy",),
        axes={"variant": ("gru_reset_before",), "subject": ("layers.RNN",),
              "mask": ("mask_zero",)},
    ),
    Limitation(
        id="numpy-index-ops-non-integer-indices",
        description="Fed float or bool indices, take_along_axis, one_hot and multi_hot on the "
                    "numpy backend follow NumPy's indexing rules (IndexError 'arrays used as "
                    "indices must be of integer (or boolean) type', or values for multi_hot) "
                    f"where the reference names other errors or values{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ("ops.take_along_axis", "ops.one_hot", "ops.multi_hot"),
              "input_dtype": ("float16", "float32", "float64")},
    ),
    Limitation(
        id="numpy-index-ops-bool-indices",
        description="Fed bool indices, take_along_axis and one_hot on the numpy backend follow "
                    "NumPy's indexing rules and raise IndexError (a bool array is a mask "
                    f"there) where the reference expects values{NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/numpy.py",
        backends=("numpy",),
        axes={"subject": ("ops.take_along_axis", "ops.one_hot"), "input_dtype": ("bool",)},
    ),
    Limitation(
        id="numpy-segment-ops-float-ids-eager",
        description="ops.segment_sum and ops.segment_max called eagerly on the numpy backend "
                    "with float segment ids raise NumPy's IndexError (predict casts them and "
                    f"matches){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/math.py",
        backends=("numpy",),
        axes={"subject": ("ops.segment_sum", "ops.segment_max"),
              "input_dtype": ("float16", "float32", "float64"), "mode": ("eager",)},
    ),
    Limitation(
        id="numpy-top-k-float64-predict",
        description="ops.top_k values of float64 input through predict on the numpy backend "
                    "come back as float64 but rounded through float32 (2.4e-8 off, over the "
                    f"float64 tolerance){NO_REPORT}",
        link=f"{KERAS_NUMPY_SRC}/trainer.py",
        backends=("numpy",),
        axes={"subject": ("ops.top_k",), "item": ("values",), "input_dtype": ("float64",),
              "mode": ("predict",)},
    ),
    Limitation(
        id="openvino-top-k-float64",
        description="ops.top_k values of float64 input on the openvino backend are rounded "
                    f"through float32 (2.4e-8 off, over the float64 tolerance){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "math.py",
        backends=("openvino",),
        axes={"subject": ("ops.top_k",), "item": ("values",), "input_dtype": ("float64",)},
    ),
    Limitation(
        id="openvino-bfloat16-policy-predict",
        description="Under a bfloat16 dtype policy (mixed_bfloat16, floatx bfloat16), predict "
                    "on OpenVINO returns float16 values off by up to 1.4 from a table in "
                    f"[-0.5, 0.5) (eager is right){NO_REPORT}",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/"
             "core.py",
        backends=("openvino",),
        axes={"dtype_policy": ("mixed_bfloat16", "floatx_bfloat16"),
              "mode": ("predict", "save_load")},
    ),
    Limitation(
        id="jax-take-fills-nan",
        description="JAX's take fills out-of-bounds rows with NaN (mode='fill') instead of "
                    "raising: an id >= input_dim silently becomes a NaN row",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "values": ("out_of_range",),
              "input_dtype": JAX_GATHERED},
    ),
    Limitation(
        id="jax-take-fills-nan-embedding",
        description="JAX's take fills out-of-bounds rows with NaN (mode='fill') instead of "
                    "raising: an id >= input_dim silently becomes a NaN row of the Embedding",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("layers.Embedding",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="jax-take-fills-nan-negative",
        description="JAX's take fills rows for ids below -input_dim with NaN instead of raising",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("ops.take", "ops.take_along_axis"), "values": ("negative",),
              "bad_id": ("-11", "-6"), "input_dtype": JAX_GATHERED},
    ),
    Limitation(
        id="jax-take-fills-nan-negative-embedding",
        description="JAX's take fills the Embedding rows of ids below -input_dim with NaN "
                    "instead of raising",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"subject": ("layers.Embedding",), "values": ("negative",), "bad_id": ("-11",)},
    ),
    Limitation(
        id="take-wraps-negative-ids",
        description="keras.ops.take wraps a negative id like NumPy: Embedding returns the last "
                    "row for id -1 on every backend instead of refusing it (the Embedding "
                    "contract is ids in [0, input_dim), keras-team/keras#20145)",
        link="https://github.com/keras-team/keras/issues/20145",
        axes={"subject": ("layers.Embedding",), "values": ("negative",), "bad_id": ("-1",)},
    ),
    Limitation(
        id="embedding-truncates-fractional-ids",
        description="Embedding.call casts non-integer ids to int32, so a fractional id such as "
                    "1.5 is truncated to row 1 with no error (the article claims a TypeError)",
        link=KERAS_EMBEDDING_SRC,
        axes={"subject": ("layers.Embedding",), "values": ("fractional",)},
    ),
    Limitation(
        id="lstm-floatx-bfloat16-qr",
        description="With floatx bfloat16, LSTM cannot be built: its Orthogonal recurrent "
                    "initializer runs a QR decomposition, which none of these backends "
                    "implements for bfloat16 (Qr on TensorFlow, geqrf on torch's CPU and "
                    "CUDA, jax.numpy.linalg.qr: NotImplementedError on the CPU, TypeError "
                    "'qr does not accept dtype bfloat16' on a GPU); the numpy and openvino "
                    "backends build it",
        link="https://github.com/keras-team/keras/issues/16927",
        backends=("tensorflow", "jax", "torch"),
        axes={"dtype_policy": ("floatx_bfloat16",), "model": ("embedding_lstm",)},
        explains=(Behaviour(kind="error", error_type="InvalidArgumentError"),
                  Behaviour(kind="error", error_type="NotImplementedError"),
                  Behaviour(kind="error", error_type="TypeError")),
        observed_on=("cpu", "gpu"),
    ),
    # Releases before the pinned one (the minimum channel: Keras 3.6.0). The release that
    # changed each cell was found with `nox -s bisect` (reports/bisect/); on TensorFlow
    # 2.21 Keras 3.7 to 3.11 do not install, so TensorFlow bisects start at 3.12.0.
    Limitation(
        id="attention-masked-embedding-before-3-12",
        description="Before Keras 3.12, keras.layers.Attention fed by Embedding(mask_zero=True) "
                    "fails: Keras 3.6.0 raises ValueError 'A KerasTensor cannot be used as "
                    "input to a TensorFlow function' (JAX: 'a JAX function'), and a shape "
                    "error when the value is shorter than the query (cross-attention); "
                    "bisected: on JAX 3.11.3 still raises that ValueError, on PyTorch 3.7.0 "
                    "to 3.11.3 raise RuntimeError ('The size of tensor a (4) must match the "
                    "size of tensor b (3)'), and 3.12.0 matches the reference on both",
        link="https://github.com/keras-team/keras/issues/20318",
        axes={"consumer": ("Attention",), "mask": ("mask_zero",)},
        versions={"keras": "<3.12"},
    ),
    Limitation(
        id="concatenate-masked-inputs-before-3-12",
        description="Before Keras 3.12, Concatenate of two Embedding(mask_zero=True) outputs "
                    "fails in a functional model's predict and jit_compile: TypeError "
                    "'Failed to convert elements of (None, 3, 4) to Tensor' on TensorFlow, "
                    "'Shapes must be 1D sequences of concrete values' on JAX (Keras 3.6.0); "
                    "bisected on PyTorch: 3.11.3 raises TypeError, 3.12.0 matches",
        link="https://github.com/keras-team/keras/releases/tag/v3.12.0",
        axes={"subject": ("layers.Concatenate",), "mask": ("mask_zero",),
              "mode": ("predict", "jit_compile")},
        versions={"keras": "<3.12"},
    ),
    Limitation(
        id="global-average-pooling-empty-batch-before-3-15",
        description="Before Keras 3.15, GlobalAveragePooling1D on an empty batch (0, steps) "
                    "with a mask raises (TensorFlow InvalidArgumentError 'slice index 0 of "
                    "dimension 0 out of bounds', JAX and PyTorch IndexError); bisected on "
                    "TensorFlow and PyTorch: 3.14.1 raises, 3.15.0 returns the (0, 4) output",
        link="https://github.com/keras-team/keras/releases/tag/v3.15.0",
        axes={"subject": ("layers.GlobalAveragePooling1D",), "batch": ("empty",)},
        versions={"keras": "<3.15"},
    ),
    Limitation(
        id="torch-scce-negative-label-before-3-14",
        description="Before Keras 3.14, SparseCategoricalCrossentropy on PyTorch one-hot "
                    "encoded the labels (a negative label became a row of zeros) and returned "
                    "a finite loss for a negative label where the reference refuses it; an "
                    "out-of-range label was refused by one_hot ('Class values must be smaller "
                    "than num_classes'). Keras 3.14 computes it with torch's nll_loss, which "
                    "refuses both (IndexError 'Target -1 is out of bounds'); bisected on "
                    "PyTorch: 3.13.2 returns values, 3.14.0 refuses",
        link="https://github.com/keras-team/keras/pull/22169",
        backends=("torch",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",), "values": ("negative",)},
        versions={"keras": "<3.14"},
    ),
    Limitation(
        id="torch-multi-hot-int64-before-3-14",
        description="Before Keras 3.14, keras.ops.multi_hot on PyTorch returned int64 "
                    "eagerly where the reference (and the other backends) give float32; the "
                    "values are right. ops.multi_hot passed its default dtype=None on, and the "
                    "torch one_hot kept torch's int64; bisected on PyTorch: 3.13.2 int64, "
                    "3.14.0 float32",
        link="https://github.com/keras-team/keras/blob/v3.13.2/keras/src/ops/nn.py",
        backends=("torch",),
        axes={"subject": ("ops.multi_hot",), "mode": ("eager",),
              "values": ("in_range", "negative")},
        versions={"keras": "<3.14"},
    ),
    Limitation(
        id="jax-stacked-rnn-cells-mask-before-3-10",
        description="Before Keras 3.10, RNN([cell, cell]) (stacked cells) with a mask fails "
                    "on JAX: TypeError 'where requires ndarray or scalar arguments, got "
                    "<class 'list'>' (the stacked state is a list); bisected on JAX: 3.9.2 "
                    "raises, 3.10.0 matches the reference",
        link="https://github.com/keras-team/keras/releases/tag/v3.10.0",
        backends=("jax",),
        axes={"subject": ("layers.RNN",), "mask": ("mask_zero", "explicit")},
        versions={"keras": "<3.10"},
    ),
    Limitation(
        id="tf-searchsorted-nd-values-jit-before-3-12",
        description="With Keras 3.6.0, keras.ops.searchsorted of (2, 3) float32 values under "
                    "jit_compile raises TypeError on TensorFlow ('len is not well defined for "
                    "a symbolic Tensor'); 3.12.0 to 3.15.1 return the reference's indices "
                    "(bisect; Keras 3.7 to 3.11 do not install beside TensorFlow 2.21, so the "
                    "release that fixed it is not known)" + NO_REPORT,
        link="https://github.com/keras-team/keras/blob/v3.6.0/keras/src/backend/tensorflow/"
             "numpy.py",
        backends=("tensorflow",),
        axes={"subject": ("ops.searchsorted",), "mode": ("jit_compile",), "rank": (2,)},
        versions={"keras": "<3.12"},
    ),
    Limitation(
        id="keras-nightly-rnn-drops-output-mask",
        description="keras-nightly 3.16.0.dev sets supports_masking = False in RNN.__init__ "
                    "(and Bidirectional's), Keras 3.15.1 True: an LSTM(return_sequences=True) "
                    "after Embedding(mask_zero=True) no longer passes the mask on (UserWarning "
                    "'...does not support masking and will therefore destroy the mask "
                    "information'), so the per-timestep loss fit reports averages over the "
                    "padded timesteps too. Minimal input: keras.layers.LSTM(3, "
                    "return_sequences=True)(keras.layers.Embedding(10, 4, mask_zero=True)"
                    "(keras.Input((4,), dtype='int32')))._keras_mask is None" + NO_REPORT,
        link="https://github.com/keras-team/keras/blob/master/keras/src/layers/rnn/rnn.py",
        axes={"subject": ("losses.SparseCategoricalCrossentropy",), "mode": ("fit",),
              "mask": ("mask_zero",)},
        versions={"keras": ">=3.16.0.dev0"},
    ),
    Limitation(
        id="time-distributed-drops-mask",
        description="TimeDistributed passes no mask to the layer it wraps: "
                    "TimeDistributed(LSTM) after TimeDistributed(Embedding(mask_zero=True)) "
                    "runs over the padded inner steps as if they were valid",
        link="https://github.com/keras-team/keras/issues/4786",
        axes={"report": ("time_distributed_mask",)},
    ),
    Limitation(
        id="lstm-use-cudnn-on-cpu",
        description="LSTM(use_cudnn=True) needs cuDNN: on a CPU every backend raises "
                    "ValueError instead of running the layer",
        link="https://github.com/keras-team/keras/issues/8620",
        devices=("cpu",),
        axes={"report": ("lstm_use_cudnn",)},
    ),
    # GPU-only divergences, from the first GPU run (2026-12-04, one NVIDIA H200: JAX 0.11.2,
    # torch 2.11.0+cu130; reports/device-logs/).
    Limitation(
        id="lstm-use-cudnn-masked-jax-torch-gpu",
        description="LSTM(use_cudnn=True) fed a mask (Embedding(mask_zero=True)) raises "
                    "ValueError on a GPU too with the JAX and PyTorch backends: their cuDNN "
                    "LSTM takes no mask (backend.lstm raises NotImplementedError for any mask, "
                    "which use_cudnn=True turns into 'cuDNN is not supported for this layer "
                    "configuration with this backend'), even for right-padded sequences",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/jax/rnn.py",
        backends=("jax", "torch"),
        devices=("gpu",),
        axes={"report": ("lstm_use_cudnn",)},
        explains=(Behaviour(kind="error", error_type="ValueError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="torch-cuda-index-device-side-assert",
        description="On a CUDA device PyTorch checks ids inside its kernels: an id past "
                    "input_dim (or a negative one) fed to Embedding, ops.one_hot, "
                    "ops.multi_hot or CategoryEncoding triggers a device-side "
                    "assert, raised as torch.AcceleratorError 'CUDA error: device-side assert "
                    "triggered' (on the CPU the same calls raise IndexError for Embedding, "
                    "RuntimeError 'Class values must be smaller than num_classes' for the "
                    "others), and leaves the process's CUDA context unusable: every later "
                    "CUDA call fails until the process ends (the harness replaces the worker)",
        link="https://github.com/pytorch/pytorch/issues/19120",
        backends=("torch",),
        devices=("gpu",),
        # -1: ops.one_hot and ops.multi_hot give the reference's zeros, no kernel asserts.
        axes={"subject": ("layers.Embedding", "ops.one_hot", "ops.multi_hot",
                          "layers.CategoryEncoding"),
              "values": ("out_of_range", "negative"),
              "bad_id": ("-11", "5", "10", "100", "127", "255", "32767", "65535",
                         "2147483651", "4294967303")},
        explains=(Behaviour(kind="error", error_type="AcceleratorError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="torch-cuda-take-device-side-assert",
        description="keras.ops.take on a CUDA device with an id past the axis (or below "
                    "minus its length) trips the same device-side assert in PyTorch's index "
                    "kernel: torch.AcceleratorError instead of the CPU's IndexError 'index "
                    "out of range', and the process's CUDA context is unusable afterwards",
        link="https://github.com/pytorch/pytorch/issues/71572",
        backends=("torch",),
        devices=("gpu",),
        # -1 is a valid id (it wraps) and uint64 is refused before any kernel
        # (torch-no-uint64): neither reaches the assert, so neither is selected.
        axes={"subject": ("ops.take",), "values": ("out_of_range", "negative"),
              "bad_id": ("-11", "10"),
              "input_dtype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                              "float16", "float32", "float64")},
        explains=(Behaviour(kind="error", error_type="AcceleratorError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="torch-cuda-sparse-crossentropy-device-side-assert",
        description="On a CUDA device a SparseCategoricalCrossentropy target outside "
                    "[0, classes) trips the assert 't >= 0 && t < n_classes' in PyTorch's "
                    "nll_loss kernel: torch.AcceleratorError 'CUDA error: device-side assert "
                    "triggered' instead of the CPU's IndexError 'Target 3 is out of bounds', "
                    "and the process's CUDA context is unusable afterwards",
        link="https://github.com/pytorch/pytorch/issues/89369",
        backends=("torch",),
        devices=("gpu",),
        axes={"subject": ("losses.SparseCategoricalCrossentropy",),
              "values": ("out_of_range", "negative")},
        explains=(Behaviour(kind="error", error_type="AcceleratorError"),),
        observed_on=("gpu",),
    ),
    Limitation(
        id="global-max-pooling-ignores-mask",
        description="GlobalMaxPooling1D takes no mask: padded steps (the embedding of id 0) "
                    "enter the maximum, and an all-padding row returns values instead of -inf",
        link="https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/pooling/"
             "global_max_pooling1d.py",
        axes={"consumer": ("GlobalMaxPooling1D",), "mask": ("mask_zero",)},
    ),
    Limitation(
        id="torch-no-uint64",
        description="Keras's torch backend has no uint64 (PyTorch's unsigned types past uint8 "
                    "are limited): convert_to_tensor raises 'Unsupported dtype for PyTorch'",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": ("ops.take", "ops.take_along_axis", "ops.multi_hot", "ops.bincount",
                          "ops.segment_sum", "ops.segment_max"),
              "input_dtype": ("uint64",)},
        expects="values",
    ),
    Limitation(
        id="torch-no-uint64-embedding",
        description="Keras's torch backend has no uint64: Embedding with uint64 ids raises "
                    "'Unsupported dtype for PyTorch: uint64', in range or not",
        link="https://github.com/pytorch/pytorch/issues/58734",
        backends=("torch",),
        axes={"subject": ("layers.Embedding",), "input_dtype": ("uint64",)},
    ),
    # OpenVINO's bfloat16 CPU precision: one cause, two selections of the cells it moves
    # (matched on what the programs do, `cases.facts`: every predict of padded ids through a
    # recurrent or attention layer under the float32 policy, whatever the case's labels).
    *(Limitation(id=f"openvino-cpu-bfloat16-inference-precision{suffix}",
                 description=OPENVINO_BF16, link=OPENVINO_CPU_DOC, backends=("openvino",),
                 devices=("cpu",), axes=axes, cpu_flags=BF16_CPU_FLAGS)
      for suffix, axes in (
          ("", {"subject": ("layers.SimpleRNN", "layers.GRU", "layers.LSTM",
                            "layers.Bidirectional", "layers.RNN", "layers.Attention",
                            "layers.MultiHeadAttention"),
                "mode": ("predict",), "values": ("padded",), "dtype_policy": ("float32",)}),
          ("-saved", {"model": ("embedding_lstm", "embedding_bilstm_dense", "user_bilstm"),
                      "mode": ("save_load",)}),
      )),
)


#: What each limitation was observed to explain when it was written, by id: the behaviours
#: of the differing cells it covered on the published CPU columns (`python -m matrix.triage
#: behaviours` writes it from run files; a person reviews the diff). A record's own
#: `explains` wins over it.
BEHAVIOURS_FILE = Path(__file__).with_name("limitation_behaviours.json")


def with_observed_behaviours(limitations: Sequence[Limitation],
                             path: Path = BEHAVIOURS_FILE) -> tuple[Limitation, ...]:
    """`limitations`, each given the behaviours `path` records for its id (unless it states
    its own).

    Raises:
        ValueError: the file is not JSON of that shape (names the file and the id).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot be read as JSON: {exc}") from exc
    found = []
    for limitation in limitations:
        entry = data.get(limitation.id)
        if limitation.explains or not isinstance(entry, dict):
            found.append(limitation)
            continue
        try:
            explains = tuple(Behaviour(**b) for b in entry["explains"])
            observed_on = tuple(str(d) for d in entry.get("observed_on", ()))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: limitation {limitation.id}: field `explains` must be "
                             f"a list of behaviours ({exc})") from exc
        found.append(replace(limitation, explains=explains, observed_on=observed_on))
    return tuple(found)


#: The records as written here, before the observed behaviours are joined.
WRITTEN_LIMITATIONS = LIMITATIONS
LIMITATIONS = with_observed_behaviours(WRITTEN_LIMITATIONS)
