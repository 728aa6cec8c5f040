"""The harness lines every rendered program starts with (`matrix.run.program.render`).

`PRELUDE` is Python source, not code of this module: the exception classes a program raises
to say how a cell ended (`HarnessError`, `NotApplicable`, `NotRun`), the seeded inputs and
weights (`seeded`, `set_weights`, `seed_floats`: the same draws as the oracle's NumPy), where
a result lives (`device_of`: the device that really held the tensor) and `observe`, which
runs the program and prints the observation as one JSON line. It needs nothing of this
project, so a repro runs as it stands; `matrix.report.minimal` cuts it from a minimal repro.
"""

from __future__ import annotations

PRELUDE = '''\
class HarnessError(Exception):
    """The harness failed, not the backend: the matrix records a harness error, not a
    backend's answer."""


class NotApplicable(Exception):
    """The program has no meaning on this backend."""


class NotRun(Exception):
    """The program cannot run here (e.g. the file saved under another backend is missing)."""


def seeded(shapes, seed, zero_rows=()):
    """The weights every backend is given: uniform in [-0.5, 0.5), rounded to float32."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-0.5, 0.5, size=shape).astype("float32") for shape in shapes]
    for row in zero_rows:
        weights[0][row, :] = 0.0
    return weights


def set_weights(layer, weights):
    got = [tuple(w.shape) for w in layer.get_weights()]
    want = [tuple(w.shape) for w in weights]
    if got != want:
        raise HarnessError(f"{layer.name}: weights of shapes {got}, the reference has {want}")
    layer.set_weights(weights)


def seed_floats(layer, seed):
    """A layer with no record (an open step): every float weight drawn like `seeded`, in the
    dtype it has; others (ids, counts) kept. Every backend gets the same values."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in layer.get_weights():
        weight = np.asarray(weight)
        floating = weight.dtype.kind == "f" or "float" in str(weight.dtype)
        values.append(rng.uniform(-0.5, 0.5, size=weight.shape).astype(weight.dtype)
                      if floating else weight)
    if values:
        layer.set_weights(values)


def device_of(value):
    """Where a tensor (or a layer's first weight) really lives, as the framework names it."""
    if isinstance(value, str):
        return value
    if isinstance(value, keras.layers.Layer):
        if not value.weights:
            # predict returns NumPy, and a model with no weights holds no tensor: where Keras
            # puts a new tensor is where it put the predict step's inputs.
            try:
                here = device_of(keras.ops.zeros(()))
            except Exception:  # a backend with no device to name
                return None
            return None if here is None else f"{here} (Keras's default device: no weights)"
        value = value.weights[0].value
    device = getattr(value, "device", None)
    if device is not None and not callable(device):
        return str(device)
    devices = getattr(value, "devices", None)
    return ", ".join(sorted(str(d) for d in devices())) if callable(devices) else None


def observe(program):
    """Runs the program; prints its output, then the observation as one JSON line."""
    global OUTPUT
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, where = program()
            obs = {"kind": "value", "device": device_of(where)}
            if isinstance(where, keras.layers.Layer) and where.weights:
                obs["weights_dtype"] = keras.backend.standardize_dtype(where.weights[0].dtype)
            if out is None:
                obs.update(shape=None, dtype="None")
            else:
                out = getattr(out, "flat_values", out)  # a tf.RaggedTensor: its values
                OUTPUT = np.asarray(keras.ops.convert_to_numpy(out))
                try:
                    obs["dtype"] = keras.backend.standardize_dtype(out.dtype)
                except (AttributeError, ValueError):  # e.g. bytes from pad_sequences
                    obs["dtype"] = str(OUTPUT.dtype)
                floating = OUTPUT.dtype.kind == "f" or "float" in str(OUTPUT.dtype)
                obs.update(shape=list(OUTPUT.shape), nan_count=int(
                    np.isnan(OUTPUT.astype("float64")).sum()) if floating else 0)
                print("output:", np.array2string(OUTPUT, threshold=120))
        except (NotApplicable, NotRun) as exc:
            obs = {"kind": "not_run", "error_type": type(exc).__name__, "message": str(exc)}
        except Exception as exc:
            text = str(exc) or type(exc).__name__
            if len(text) > 4000:  # keep whole lines of the end too: TensorFlow puts the
                lines, head, tail = text.splitlines(), [], []  # cause after its traceback
                while lines and sum(map(len, head)) < 1000:
                    head.append(lines.pop(0))
                while lines and sum(map(len, tail)) < 2900:
                    tail.insert(0, lines.pop())
                text = chr(10).join([*head, "• (cut)", *tail])[:20000]
            obs = {"kind": "error", "error_type": type(exc).__name__, "message": text}
            tb = exc.__traceback__  # the line of program() that raised: which step refused
            while tb is not None:
                if tb.tb_frame.f_code is program.__code__:
                    obs["line"] = tb.tb_lineno
                tb = tb.tb_next
    seen = []
    for w in caught:
        first = (str(w.message).strip().splitlines() or [""])[0]
        text = f"{w.category.__name__}: {first[:200]}"
        if text not in seen:
            seen.append(text)
    obs["warnings"] = seen[:10]
    print(json.dumps(obs))
'''
