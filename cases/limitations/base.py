"""The record types of the known divergences, and the names their records share.

`Behaviour` and `Limitation` are data: whether a limitation covers a cell is decided at
merge (`matrix.results.matching`), never here. The records themselves are in the modules of
this package, one per backend (`common` for those spanning several), and
`cases.limitations` lists them in the order a cell takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """What a backend does where a limitation says it differs from the reference.

    Attributes:
        kind: `error` (it raises) or `values` (it returns values).
        error_type: for `error`, the exception class name; None: any.
        nan: for `values`, whether the output holds NaN; None: either.
        cause: for `values`, how the values differ (a verdict cause:
            `values_where_refused`, `values_differ`, `dtype`, `shape`); None: any.
        matches: for `values`, an alternative reference the output must match (values and
            dtype), by name (`matrix.oracle.expect.ALTERNATIVES`: `inputs_cut_to_32_bits`,
            what the reference computes on the inputs cut to 32 bits; `computed_in_32_bits`,
            those values of the dtype Keras states; `inputs_saturated_to_32_bits`, the
            answer on the inputs clamped to 32 bits, of the dtype Keras states). A
            limitation whose
            behaviours all name one selects only cells where that alternative differs from
            the reference, so a cell that matches the reference there is `xpassed`, and one
            where both answers are the same is simply `passed`. None: any values.
    """

    kind: str
    error_type: str | None = None
    nan: bool | None = None
    cause: str | None = None
    matches: str | None = None

    def text(self) -> str:
        """The behaviour in a few words: `raises IndexError`, `values with NaN`."""
        if self.kind == "error":
            return f"raises {self.error_type or 'an error'}"
        nan = "" if self.nan is None else " with NaN" if self.nan else " without NaN"
        matches = ", those of the reference " + (
            "on the inputs cut to 32 bits" if self.matches == CUT_TO_32_BITS
            else "on the inputs saturated to 32 bits" if self.matches == SATURATED_TO_32_BITS
            else self.matches.replace("_", " ")) if self.matches else ""
        return f"values{nan}" + (f" ({self.cause})" if self.cause else "") + matches


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
        only_where_shown: the backend answers so for some of the cells the axes select only,
            and the axes cannot tell which (OpenVINO's CPU plugin picks an op's precision
            itself): the limitation covers a differing cell that shows one of `explains`,
            and a cell it selects that matches the reference is simply `passed`, never
            `xpassed`; it is never called stale (a run where it covers 0 cells says so).
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
        effect: what the backend does instead, in two or three words, for a silent cell of
            the compatibility table (`NaN rows`, `clamps`, `wraps`); empty: the table says
            what the verdict says (`values differ`, `dtype differs`).
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
    only_where_shown: bool = False
    explains: tuple[Behaviour, ...] = ()
    observed_on: tuple[str, ...] = ()
    cpu_flags: tuple[str, ...] = ()
    effect: str = ""


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


#: The dtypes the keras.ops dtype family pairs in its binary cases (`cases.ops_dtypes`).
OPS_PAIR_DTYPES = ("bool", "int8", "int32", "int64", "uint8", "float16", "float32", "float64")
#: The JAX document on 64-bit types: with `jax_enable_x64` off (the default) JAX makes an
#: int64, uint64 or float64 array 32-bit when it converts it.
JAX_X64_DOC = ("https://docs.jax.dev/en/latest/notebooks/Common_Gotchas_in_JAX.html"
               "#double-64bit-precision")
#: Keras's narrowing of 64-bit result types to 32 bits (`BIT64_TO_BIT32_DTYPE`), reported.
KERAS_64_TO_32_ISSUE = "https://github.com/keras-team/keras/issues/21677"
#: The torch backend's binary ops that keep float64 where Keras states float32, reported.
KERAS_TORCH_FLOAT64_ISSUE = "https://github.com/keras-team/keras/issues/23223"


#: `matrix.oracle.expect.CUT_TO_32_BITS`, the name of the answer on inputs cut to 32 bits
#: (a limitation's `Behaviour.matches`); the records do not import the oracle.
CUT_TO_32_BITS = "inputs_cut_to_32_bits"
#: `matrix.oracle.expect.COMPUTED_IN_32_BITS`: those values, of the dtype Keras states.
COMPUTED_IN_32_BITS = "computed_in_32_bits"
#: `matrix.oracle.expect.SATURATED_TO_32_BITS`: the answer on the inputs saturated to 32
#: bits (clamped to int32's range and float32's finite range), of the dtype Keras states.
SATURATED_TO_32_BITS = "inputs_saturated_to_32_bits"


def ops(*names: str) -> tuple[str, ...]:
    """`keras.ops` subjects by name: `ops("add")` is `("ops.add",)`."""
    return tuple(f"ops.{name}" for name in names)


def table_ops() -> tuple[str, ...]:
    """Every op of the op table (`cases/op_table.json`) as a subject, `ops.add` and so on."""
    from cases import op_table

    return tuple(sorted(op_table.table()["ops"]))


def op_pairs(include: str, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The family's dtype pairs (`int8_int64`, either order) with `include` in them and none
    of `exclude`."""
    return tuple(f"{a}_{b}" for a in OPS_PAIR_DTYPES for b in OPS_PAIR_DTYPES
                 if include in (a, b) and not {a, b} & set(exclude))


#: The family's input dtypes (one, or a pair: `int8_int64`) that hold a 64-bit dtype: where a
#: backend that cuts 64-bit inputs to 32 bits may answer otherwise (`CUT_TO_32_BITS`).
WITH_64_BIT = ("int64", "uint64", "float64",
               *dict.fromkeys(op_pairs("int64") + op_pairs("float64")))
#: The family's dtype pairs of two floats (`float16_float32`).
FLOAT_PAIRS = tuple(f"{a}_{b}" for a in FLOATS for b in FLOATS)
#: The family's dtype pairs of one float and one bool or integer, in either order.
_NOT_FLOATS = tuple(d for d in OPS_PAIR_DTYPES if d not in FLOATS)
MIXED_PAIRS = tuple(f"{a}_{b}" for a in FLOATS for b in _NOT_FLOATS) \
    + tuple(f"{a}_{b}" for a in _NOT_FLOATS for b in FLOATS)
