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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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
    """

    id: str
    description: str
    link: str
    backends: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    axes: Mapping[str, tuple[str | int, ...]] = field(default_factory=dict)

    def covers(self, axes: Mapping[str, str | int], backend: str, device: str) -> bool:
        """Whether this limitation covers a case with these `axes` on `backend` and `device`."""
        if self.backends and backend not in self.backends:
            return False
        if self.devices and device not in self.devices:
            return False
        return all(key in axes and axes[key] in values for key, values in self.axes.items())


def covering(limitations: Sequence[Limitation], axes: Mapping[str, str | int], backend: str,
             device: str) -> Limitation | None:
    """The first limitation that covers the cell, or None."""
    for limitation in limitations:
        if limitation.covers(axes, backend, device):
            return limitation
    return None


KERAS_EMBEDDING_SRC = (
    "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/core/embedding.py"
)

JAX_TAKE_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.numpy.take.html"

XLA_GATHER_DOC = "https://openxla.org/xla/operation_semantics#gather"
PAST_INT32 = "4294967303"  # 2**32 + 7: int32 truncation makes it id 7

# Order matters: a cell takes the first limitation that covers it.
LIMITATIONS: tuple[Limitation, ...] = (
    Limitation(
        id="xla-gather-clamps-jit",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow returns a valid row for an id >= input_dim instead of raising "
                    "as it does eagerly",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"mode": ("jit_compile",), "values": ("out_of_range",)},
    ),
    Limitation(
        id="xla-gather-clamps-negative-jit",
        description="XLA's gather clamps out-of-bounds indices: with jit_compile=True, "
                    "TensorFlow returns a valid row for an id below -input_dim",
        link=XLA_GATHER_DOC,
        backends=("tensorflow",),
        axes={"mode": ("jit_compile",), "values": ("negative",), "bad_id": ("-11",)},
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
        axes={"values": ("out_of_range",), "bad_id": (PAST_INT32,)},
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
        id="jax-take-fills-nan",
        description="JAX's take fills out-of-bounds rows with NaN (mode='fill') instead of "
                    "raising: an id >= input_dim silently becomes a NaN row",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"values": ("out_of_range",)},
    ),
    Limitation(
        id="jax-take-fills-nan-negative",
        description="JAX's take fills rows for ids below -input_dim with NaN instead of raising",
        link=JAX_TAKE_DOC,
        backends=("jax",),
        axes={"values": ("negative",), "bad_id": ("-11",)},
    ),
    Limitation(
        id="take-wraps-negative-ids",
        description="keras.ops.take wraps a negative id like NumPy: Embedding returns the last "
                    "row for id -1 on every backend instead of refusing it (the Embedding "
                    "contract is ids in [0, input_dim), keras-team/keras#20145)",
        link="https://github.com/keras-team/keras/issues/20145",
        axes={"values": ("negative",), "bad_id": ("-1",)},
    ),
    Limitation(
        id="embedding-truncates-fractional-ids",
        description="Embedding.call casts non-integer ids to int32, so a fractional id such as "
                    "1.5 is truncated to row 1 with no error (the article claims a TypeError)",
        link=KERAS_EMBEDDING_SRC,
        axes={"values": ("fractional",)},
    ),
    Limitation(
        id="lstm-floatx-bfloat16-qr",
        description="With floatx bfloat16, LSTM cannot be built: its Orthogonal recurrent "
                    "initializer runs a QR decomposition, which no backend implements for "
                    "bfloat16 on CPU (Qr on TensorFlow, geqrf on torch, jax.numpy.linalg.qr)",
        link="https://github.com/keras-team/keras/issues/16927",
        axes={"dtype_policy": ("floatx_bfloat16",), "model": ("embedding_lstm",)},
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
        axes={"input_dtype": ("uint64",)},
    ),
)
