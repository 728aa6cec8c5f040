"""Renders a case to the Python program that runs it: one source for the run and the repro.

`render(case)` returns a complete script. The run executes exactly this source in the
environment's process (`matrix/run/runner.py`), and the report publishes the same text as the
case's `repro`: with `KERAS_BACKEND` set it runs as is (`KERAS_BACKEND=jax python repro.py`)
and its last printed line is the observation as one JSON object (`kind`, `error_type`,
`message`, `shape`, `dtype`, `nan_count`, `device`, `weights_dtype`, `warnings`).

The script holds the whole program: the inputs, the host utilities (`pad_sequences`), each
layer's constructor, a symbolic call that builds every layer, the seeded weights (drawn by a
few lines of NumPy equal to `matrix.oracle.arrays.seeded_weights`, so the script needs nothing of
this project), then the mode: layers called directly (`eager`), `Model.predict`,
`compile(jit_compile=True)`, one `fit` step, or a `.keras` file saved and loaded. Dtype
policies, `jax_enable_x64`, LoRA and quantization are lines of the program like any other.

Only the standard library and the catalog (NumPy) are imported: no framework.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from cases.model import INPUT_DTYPES, Case, Step, Tensor
from cases.subjects import Subject, catalog_functions, record_of, render_value, written
from matrix import variables as kcm
from matrix.oracle.expect import describe, expected, is_open, step_weights
from matrix.records import Stage
from matrix.run.prelude import PRELUDE

#: Where `save_load` programs keep `.keras` files, unless `KCM_ARTIFACTS` says otherwise.
DEFAULT_ARTIFACTS = "reports/artifacts"

#: Keras's inference-only backends (`inference_only` in matrix/axes.toml): their trainers
#: raise NotImplementedError from `fit`, and neither compiles on request. The program
#: names them itself, so a repro needs nothing of this project.
INFERENCE_ONLY = ("numpy", "openvino")

#: Why `jit_compile` has no meaning on them. Keras gives no reason of its own here: it accepts
#: `compile(jit_compile=True)` silently and runs what `predict` runs, so this cell would only
#: repeat the `predict` one. From Keras 3.15.1's trainers:
#: https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/numpy/trainer.py
#: (`make_predict_function` never compiles) and
#: https://github.com/keras-team/keras/blob/v3.15.1/keras/src/backend/openvino/trainer.py
#: (`predict_step` compiles with OpenVINO whatever `jit_compile` says).
JIT_MEANS_NOTHING = {
    "numpy": "the numpy backend has no compiler: Keras accepts compile(jit_compile=True) and "
             "ignores it, so predict runs the same NumPy code (keras/src/backend/numpy/"
             "trainer.py, make_predict_function)",
    "openvino": "the openvino backend compiles every predict with OpenVINO, whatever "
                "jit_compile says: Keras accepts compile(jit_compile=True) and ignores it "
                "(keras/src/backend/openvino/trainer.py, predict_step)",
}


#: Appended to a program line while rendering, then removed: which part of the program the
#: line belongs to (`Where`). NUL never occurs in a rendered line.
_TAG = "\0"


@dataclass(frozen=True)
class Where:
    """The part of a program a line belongs to: where an error was raised.

    Attributes:
        stage: `setup` (dtype policy, x64), `inputs` (the data), `step` (a step's host
            call, constructor, symbolic call, weights or eager call), `model` (building,
            compiling, fitting, saving, loading or predicting the model over the steps), or
            `output` (returning or converting the output).
        step: the index of the step in `case.steps` (stage `step` only).
    """

    stage: Stage
    step: int | None = None


def _tagged(lines: Sequence[str], where: Where) -> list[str]:
    text = f"{where.stage}" if where.step is None else f"{where.stage}:{where.step}"
    return [f"{line}{_TAG}{text}" if line else line for line in lines]


def _untag(line: str) -> tuple[str, Where | None]:
    text, _, tag = line.partition(_TAG)
    if not tag:
        return text, None
    stage, _, step = tag.partition(":")
    return text, Where(stage=cast(Stage, stage), step=int(step) if step else None)


def _names(case: Case) -> list[str]:
    """A Python name for each step's layer object: `embedding`, `lstm`, `embedding_2`."""
    used: dict[str, int] = {}
    names = []
    for step in case.steps:
        base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", record_of(step).class_name).lower()
        used[base] = used.get(base, 0) + 1
        names.append(base if used[base] == 1 else f"{base}_{used[base]}")
    return names


def _keras_dtype(case: Case, name: str) -> str:
    """The Keras dtype of a program value that feeds the model (an input or a host output)."""
    if name in case.inputs:
        return case.inputs[name].dtype
    step = next(s for s in case.steps if s.output == name)
    return str(step.args.get("dtype", "int32"))


def _tensor_line(name: str, tensor: Tensor) -> list[str]:
    if tensor.sequences:
        return [f"{name} = {[list(s) for s in tensor.values]!r}"]
    if tensor.ragged:
        return [
            'if keras.backend.backend() != "tensorflow":',
            '    raise NotApplicable("tf.RaggedTensor exists on TensorFlow only; the "',
            '                        f"{keras.backend.backend()} backend has no ragged tensors")',
            "import tensorflow as tf",
            f"{name} = tf.ragged.constant({tensor.values!r}, dtype={tensor.dtype!r})",
        ]
    dtype = INPUT_DTYPES[tensor.dtype]
    bfloat16 = dtype == "bfloat16"  # NumPy has none, torch takes no ml_dtypes array
    array = f"np.array({tensor.values!r}, dtype={'float32' if bfloat16 else dtype!r})"
    if tensor.shape is not None:
        array += f".reshape({tuple(tensor.shape)!r})"
    if bfloat16:
        return [f"{name} = keras.ops.cast({array}, 'bfloat16')  # values bfloat16 holds"]
    return [f"{name} = {array}"]


Namer = Callable[[str], str]


def _call_kwargs(record: Subject, step: Step, ref: Namer) -> str:
    parts = []
    for key, value in step.call.items():
        if key in record.call_args and isinstance(value, str):
            parts.append(f"{key}={ref(value)}")
        else:
            parts.append(f"{key}={value!r}")
    return "".join(f", {p}" for p in parts)


def _call(step: Step, obj: str, ref: Namer) -> str:
    """The call of one step on program values, each named by `ref` (symbolic or concrete)."""
    record = record_of(step)
    args = [ref(n) for n in step.inputs]
    extra = _call_kwargs(record, step, ref)
    if record.call == "function":
        keywords = "".join(f", {k}={render_value(v)}" for k, v in step.args.items())
        text = f"keras.{record.name}({', '.join(args)}{keywords}{extra})"
    elif step.method is not None:
        text = f"{obj}.{step.method}({', '.join(args)}{extra})"
    elif record.call == "list" or (record.call == "open" and len(args) > 1):
        text = f"{obj}([{', '.join(args)}]{extra})"
    else:
        text = f"{obj}({', '.join(args)}{extra})"
    return text if step.item is None else f"{text}[{step.item}]"


def _constructor(step: Step) -> str:
    record = record_of(step)
    text = record.render(step.args)
    return f"keras.layers.{step.wrap}({text})" if step.wrap else text


def _host_call(step: Step) -> str:
    record = record_of(step)
    args = ", ".join([*step.inputs, *(f"{k}={render_value(v)}" for k, v in step.args.items())])
    return f"{step.output} = keras.{record.name}({args})"


def _used(step: Step) -> list[str]:
    record = record_of(step)
    return [*step.inputs, *(v for k, v in step.call.items()
                            if k in record.call_args and isinstance(v, str))]


def _model_inputs(case: Case, graph: Sequence[Step]) -> list[str]:
    """The program values fed to the model: used by the graph, made before it, not constant."""
    made = {s.output for s in graph}
    names: list[str] = []
    for step in graph:
        for name in _used(step):
            tensor = case.inputs.get(name)
            if name in made or name in names or (tensor is not None and tensor.constant):
                continue
            names.append(name)
    return names


def _input_line(case: Case, name: str, first: bool) -> str:
    tensor = case.inputs.get(name)
    if tensor is not None and tensor.ragged:
        shape = "(None,)"
    elif first and case.model_input_shape is not None:
        shape = repr(tuple(case.model_input_shape))
    else:
        shape = f"{name}.shape[1:]"
    return f"k_{name} = keras.Input(shape={shape}, dtype={_keras_dtype(case, name)!r})"


def _availability_lines(case: Case) -> list[str]:
    """Lines that say a cell does not apply where the installed Keras lacks an API the case
    calls: a table or open subject may be newer than the Keras of a channel (`keras.ops.hypot`
    and `keras.ops.exp2` are not in Keras 3.6.0, the `minimum` channel). A missing API is no
    backend's divergence: every backend of that Keras lacks it alike."""
    lines: list[str] = []
    seen = set()
    for step in case.steps:
        record = record_of(step)
        if written(step.subject) or record.source is not None or record.name in seen:
            continue
        seen.add(record.name)
        parent, _, attribute = f"keras.{record.name}".rpartition(".")
        lines += [f"if not hasattr({parent}, {attribute!r}):",
                  f'    raise NotApplicable(f"keras.{record.name} is not in Keras '
                  '{keras.version()}")']
    return lines


def _setup_lines(case: Case) -> list[str]:
    lines = _availability_lines(case)
    if case.jax_x64:
        lines += [
            'if keras.backend.backend() != "jax":',
            '    raise NotApplicable("jax_enable_x64 is a JAX setting; this backend has no '
            'such mode")',
            "import jax",
            "",
            'jax.config.update("jax_enable_x64", True)',
        ]
    if case.dtype_policy is not None and case.dtype_policy.startswith("floatx_"):
        lines.append(f'keras.config.set_floatx("{case.dtype_policy.removeprefix("floatx_")}")')
    elif case.dtype_policy is not None:
        lines.append(f"keras.config.set_dtype_policy({case.dtype_policy!r})")
    return lines


def _eager_lines(case: Case, objects: Mapping[str, str], graph: Sequence[Step]) -> list[str]:
    lines = ["# The program, called on the data."]
    for step in graph:
        record = record_of(step)
        obj = objects.get(step.output, "")
        at = Where("step", _index(case, step))
        if record.call == "metric":
            args = ", ".join(step.inputs)
            lines += _tagged([f"{obj}.update_state({args})",
                              f"{step.output} = {obj}.result()"], at)
        else:
            lines += _tagged([f"{step.output} = {_call(step, obj, lambda n: n)}"], at)
    return [*lines, "# The output, and the value whose device is recorded (the output itself).",
            *_tagged([f"return {case.observe}, {case.observe}"], Where("output"))]


def _index(case: Case, step: Step) -> int:
    """The index of `step` in `case.steps` (by identity: two steps may be equal)."""
    return next(i for i, s in enumerate(case.steps) if s is step)


def _mode_lines(case: Case, objects: Mapping[str, str], model_inputs: Sequence[str]
                ) -> list[str]:
    feed = model_inputs[0] if len(model_inputs) == 1 else f"[{', '.join(model_inputs)}]"
    lines = [f"k_model_inputs = [{', '.join('k_' + n for n in model_inputs)}]",
             f"model = keras.Model(k_model_inputs if len(k_model_inputs) > 1 "
             f"else k_model_inputs[0], k_{case.observe})"]
    if case.mode == "predict":
        return [*lines, f"return model.predict({feed}, verbose=0), model"]
    if case.mode == "jit_compile":
        return [*lines, "model.compile(jit_compile=True)",
                *_jit_not_applicable(),
                f"return model.predict({feed}, verbose=0), model"]
    if case.mode == "fit":
        assert case.fit is not None
        layer = objects[case.fit.observe]
        compile_sgd = ("model.compile(optimizer=keras.optimizers.SGD(learning_rate="
                       f"{case.fit.learning_rate!r}), ")
        fit_args = f"batch_size=len({model_inputs[0]}), epochs=1, shuffle=False, verbose=0)"
        if case.fit.labels is None:  # "mse" to a zero target; the table after the step
            setup = [compile_sgd + 'loss="mse")',
                     f"target = np.zeros((len({model_inputs[0]}), *model.output_shape[1:]), "
                     'dtype="float32")']
            call = f"model.fit({feed}, target, "
            result = [f"return {layer}.weights[0].value, {layer}"]
        else:  # a sparse loss to the labels; the loss fit reports
            setup = [compile_sgd
                     + "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))"]
            call = f"history = model.fit({feed}, {case.fit.labels}, "
            result = ["# The loss fit reports for its one step (computed before the update).",
                      f'return np.float32(history.history["loss"][0]), {layer}']
        return [*lines, *setup,
                "try:",
                f"    {call}{fit_args}",
                "except NotImplementedError as exc:",
                "    # Keras's inference-only backends refuse to train: Keras's own reason.",
                f"    if keras.backend.backend() not in {INFERENCE_ONLY!r}:",
                "        raise",
                '    raise NotApplicable(f"Keras: {exc}") from exc',
                *result]
    saved_on = case.saved_on or "?"
    file = saved_model_file(case)
    return [*lines,
            f"# The saving backend writes the file (into {kcm.ARTIFACTS.name}, else a temporary",
            "# folder: a repro never rewrites the committed models); the others load it.",
            f'folder = os.environ.get("{kcm.ARTIFACTS.name}")',
            f"if keras.backend.backend() == {saved_on!r}:",
            "    folder = folder or tempfile.mkdtemp()",
            f"    path = os.path.join(folder, {saved_on!r}, {file!r})",
            "    os.makedirs(os.path.dirname(path), exist_ok=True)",
            '    model.save(path[: -len(".keras")] + ".tmp.keras")',
            '    os.replace(path[: -len(".keras")] + ".tmp.keras", path)',
            "    # Every save rewrites the sidecar: which versions saved the file, and when.",
            "    import datetime",
            "",
            '    with open(path[: -len(".keras")] + ".json", "w", encoding="utf-8") as sidecar:',
            f'        json.dump({{"saved_on": {saved_on!r}, "case": {case.id!r},',
            '                   "keras": keras.version(),',
            f'                   "backend_version": __import__({saved_on!r}).__version__,',
            '                   "date": datetime.datetime.now(datetime.timezone.utc)'
            '.isoformat(timespec="seconds")},',
            "                  sidecar, indent=1)",
            "else:",
            f"    path = os.path.join(folder or {DEFAULT_ARTIFACTS!r}, {saved_on!r}, {file!r})",
            "    if not os.path.exists(path):",
            f'        raise NotRun(f"no model saved under {saved_on}: {{path}} is missing; run '
            f'the {saved_on} environment first")',
            "loaded = keras.models.load_model(path)",
            f"return loaded.predict({feed}, verbose=0), loaded"]


def saved_model_file(case: Case) -> str:
    """The file name a `save_load` case's model is saved to, under `<artifacts>/<saved_on>/`.

    Example: `save-load-embedding_lstm.keras` (the case's group, then its `model` axis).
    """
    return f"{case.group}-{case.axes.get('model', 'model')}.keras"


def saved_model_path(case: Case, artifacts: Path) -> Path:
    """Where a `save_load` case's program writes (under `saved_on`) or reads its `.keras` file.

    Args:
        artifacts: the folder the program gets as `KCM_ARTIFACTS`.
    """
    return artifacts / (case.saved_on or "?") / saved_model_file(case)


def _jit_not_applicable() -> list[str]:
    """Lines that skip a `jit_compile` cell where the flag means nothing (after `compile`,
    so an error Keras raises there is still observed)."""
    lines = []
    for backend, reason in JIT_MEANS_NOTHING.items():
        lines += [f"if keras.backend.backend() == {backend!r}:",
                  f"    raise NotApplicable({reason!r})"]
    return lines


def _body(case: Case) -> list[str]:
    names = {s.output: n for s, n in zip(case.steps, _names(case), strict=True)}
    constants = {n for n, t in case.inputs.items() if t.constant}
    lines = _tagged(_setup_lines(case), Where("setup"))
    lines.append("# The data.")
    for name, tensor in case.inputs.items():
        lines += _tagged(_tensor_line(name, tensor), Where("inputs"))
    graph = [s for s in case.steps if not record_of(s).host]
    for i, step in enumerate(case.steps):
        if record_of(step).host:
            lines += _tagged([_host_call(step)], Where("step", i))
    if not graph:
        return [*lines, *_tagged([f'return {case.observe}, "host (NumPy)"'], Where("output"))]
    objects = {s.output: names[s.output] for s in graph
               if record_of(s).kind in ("layer", "loss", "metric")}
    if objects:
        lines.append("# The layers and objects under test.")
        for s in graph:
            if s.output in objects:
                lines += _tagged([f"{objects[s.output]} = {_constructor(s)}"],
                                 Where("step", _index(case, s)))
    # The symbolic part: every step up to the first loss or metric (eager-only objects).
    symbolic = []
    for step in graph:
        if record_of(step).kind in ("loss", "metric"):
            break
        symbolic.append(step)
    has_weights = any(record_of(s).kind == "layer" for s in symbolic)
    open_case = is_open(case)
    model_inputs = _model_inputs(case, symbolic)
    if symbolic and (has_weights or case.mode != "eager"):
        lines.append("# Build every layer with a symbolic call on inputs shaped like the data.")
        lines += _tagged([_input_line(case, n, i == 0) for i, n in enumerate(model_inputs)],
                         Where("model"))

        def sym(name: str) -> str:
            return name if name in constants else f"k_{name}"

        for step in symbolic:
            obj = objects.get(step.output, "")
            built = [f"{obj}({', '.join(sym(n) for n in step.inputs)})"] \
                if step.method is not None else []
            lines += _tagged([*built, f"k_{step.output} = {_call(step, obj, sym)}"],
                             Where("step", _index(case, step)))
    if has_weights and not open_case:
        lines.append("# The seeded weights (the NumPy reference uses the same).")
    for i, (step, drawn) in enumerate(zip(case.steps, step_weights(case), strict=True)):
        if drawn is None:
            continue
        shapes, seed = drawn
        zero = f", zero_rows={step.zero_rows!r}" if step.zero_rows else ""
        weights = [f"set_weights({names[step.output]}, seeded({shapes!r}, seed={seed}{zero}))"]
        for method, method_args in step.after_weights:
            args = ", ".join(repr(a) for a in method_args)
            weights.append(f"{names[step.output]}.{method}({args})")
        lines += _tagged(weights, Where("step", i))
    if open_case:  # no reference: every layer's float weights seeded here, alike
        seeds = [(i, s) for i, s in enumerate(case.steps) if s.output in objects
                 and record_of(s).kind == "layer"]
        if seeds:
            lines.append("# The seeded weights (no reference: the same on every backend).")
        for i, step in seeds:
            lines += _tagged([f"seed_floats({objects[step.output]}, seed={case.seed + i})"],
                             Where("step", i))
    if case.mode == "eager":
        return [*lines, *_eager_lines(case, objects, graph)]
    return [*lines, *_tagged(_mode_lines(case, objects, model_inputs), Where("model"))]


def render(case: Case) -> str:
    """The complete, runnable program of a case (the `repro` of the JSON contract).

    Returns:
        Python source, newline-terminated. Run with `KERAS_BACKEND` set, it prints the output
        and, as its last line, the observation as one JSON object; an error's observation
        holds `line`, the line of `program()` that raised (`render_with_lines` says which
        step or stage that line belongs to).

    Raises:
        KeyError: a step names a subject with no record (the catalog refuses it first).
    """
    return render_with_lines(case)[0]


def render_with_lines(case: Case) -> tuple[str, dict[int, Where]]:
    """`render(case)`, and the part of the program each line of `program()` belongs to.

    Returns:
        (the source, {line number (1-based): `Where`} for the lines of `program()` that
        run the case: setup, data, steps, model, output).

    Raises:
        KeyError: as `render`.
    """
    want = expected(case)
    customs = sorted({record_of(s).source or "" for s in case.steps} - {""})
    # The functions a step passes (a `standardize=` callable of a user catalog), as written.
    functions = {f.__name__: textwrap.dedent(inspect.getsource(f))
                 for s in case.steps for f in catalog_functions(s)}
    customs += [functions[name] for name in sorted(functions)]
    header = [
        f'"""{case.id}: {_one_line(case.description)}',
        "",
        "Run as is with a backend chosen, e.g. `KERAS_BACKEND=jax python this_file.py`; the",
        "last line printed is the observation as JSON. Generated by keras-compat-matrix",
        "(matrix/run/program.py): the matrix ran exactly this program.",
        f"Reference: {_one_line(describe(want))}",
    ]
    if case.source:
        header.append(f"Reported in: {case.source}")
    header.append('"""')
    body = "\n".join("    " + line if line else "" for line in _body(case))
    parts = [
        "\n".join(header),
        "import json\nimport os\nimport tempfile\nimport warnings\n\nimport numpy as np\n\n"
        "import keras",
        PRELUDE.rstrip("\n"),
        *(c.rstrip("\n") for c in customs),
        f"def program():\n{body}",
        "observe(program)",
    ]
    tagged = "\n\n\n".join(parts[:2]) + "\n\n\n" + "\n\n\n".join(parts[2:]) + "\n"
    lines, where = [], {}
    for number, line in enumerate(tagged.split("\n"), start=1):
        text, at = _untag(line)
        lines.append(text)
        if at is not None:
            where[number] = at
    return "\n".join(lines), where


def _one_line(text: str) -> str:
    flat = " ".join(text.split()).replace('"""', "'''").replace("\\", "\\\\")
    return flat if len(flat) <= 400 else flat[:399] + "…"


__all__ = ["INFERENCE_ONLY", "JIT_MEANS_NOTHING", "Where", "render",
           "render_with_lines"]
