"""The input checks of `nox -s check`, before any backend runs: the `.keras` archive and its
config, the outer model's inputs, custom objects, and the `.npz` inputs (their declared size
read from the headers alone). Also `plain`, the one clean line every string from a model file
or a backend becomes."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matrix.run.messages import clean_message

#: The most bytes the arrays of INPUTS may declare, all members together (1 GiB). Each
#: member's `.npy` header says its shape and dtype; a file declaring more is refused before
#: any array is read, so a header claiming 10**15 elements is exit 2, not a MemoryError.
INPUTS_LIMIT_BYTES = 1 << 30
#: The longest text of a model's (layer names, class names, error messages) that a report
#: shows in one cell: a name of megabytes is cut, not printed.
TEXT_LIMIT = 500


def plain(text: object, limit: int = TEXT_LIMIT) -> str:
    """Text from a model file (or a backend) made safe for a terminal: one line, no ANSI
    escapes, no control characters, cut to `limit` (`matrix.run.messages.clean_message`).

    Every line break becomes a space first, so nothing after it is lost or read as a row.
    """
    return clean_message(" ".join(str(text).split()), limit)


class CheckError(ValueError):
    """Bad input: one line naming what to change."""


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def read_config(model: Path) -> dict[str, Any]:
    """The model's `config.json` from its `.keras` archive.

    Raises:
        CheckError: not a `.keras` archive.
    """
    if model.suffix != ".keras" or not model.is_file():
        raise CheckError(f"MODEL must be a .keras file (model.save('model.keras')). "
                         f"Received: {model}")
    try:
        with zipfile.ZipFile(model) as archive:
            return dict(json.loads(archive.read("config.json")))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
        raise CheckError(f"MODEL is not a .keras archive with a config.json ({exc}); save it "
                         f"with model.save('model.keras'). Received: {model}") from None


def _input_layer(item: Any) -> tuple[str, list[int | None]] | None:
    if not isinstance(item, dict) or item.get("class_name") != "InputLayer" \
            or not isinstance(item.get("config"), dict):
        return None
    cfg = item["config"]
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    return (str(cfg.get("name")), shape) if isinstance(shape, list) else None


def model_inputs(config: Mapping[str, Any]) -> list[tuple[str, list[int | None]]]:
    """(name, batch shape) of each input of the outer model, in the model's order.

    A functional model's inputs are its `config["input_layers"]` (`["ids", 0, 0]`, or a list
    of those), looked up among its own top-level layers; a Sequential's is its top-level
    `InputLayer`. A model nested inside it keeps its own `InputLayer`, which is not an input
    of the outer model and is never counted.
    """
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(inner, dict)
    layers = inner.get("layers") if isinstance(inner.get("layers"), list) else []
    assert isinstance(layers, list)
    top = [found for found in map(_input_layer, layers) if found is not None]
    declared = inner.get("input_layers")
    if not isinstance(declared, list):
        return top[:1] if config.get("class_name") == "Sequential" else top
    if declared and isinstance(declared[0], str):  # one input: ["ids", 0, 0]
        declared = [declared]
    by_name = dict(top)
    return [(str(d[0]), by_name[str(d[0])]) for d in declared
            if isinstance(d, list) and d and str(d[0]) in by_name]


def custom_classes(config: Mapping[str, Any]) -> list[str]:
    """Classes the config names from outside Keras (they need `--custom-objects`)."""
    names = []
    for item in _walk(config):
        # Keras's own objects are saved with their module (`keras.layers`); a user's class
        # with none, or its own, and a registered name such as `my_package>MyLayer`.
        # A module merely named like Keras (`keras_custom_layers`) is the user's.
        module = str(item.get("module") or "")
        own = module == "keras" or module.startswith("keras.")
        if "class_name" in item and "registered_name" in item and not own:
            names.append(str(item.get("registered_name") or item["class_name"]))
    return sorted(set(names))


def check_inputs(arrays: Mapping[str, np.ndarray[Any, Any]],
                 inputs: Sequence[tuple[str, list[int | None]]]) -> None:
    """Refuses inputs that do not fit the model's inputs.

    Raises:
        CheckError: another count, unknown names, another rank or fixed dimension.
    """
    names = [name for name, _ in inputs]
    if set(arrays) == set(names):
        pairs = [(name, arrays[name], shape) for name, shape in inputs]
    elif len(arrays) == len(inputs) and all(k.startswith("arr_") for k in arrays):
        pairs = [(name, arrays[key], shape)
                 for (name, shape), key in zip(inputs, sorted(arrays), strict=True)]
    else:
        raise CheckError(f"INPUTS must hold one array per model input, named {names} "
                         f"(np.savez(path, {names[0] if names else 'x'}=...)). "
                         f"Received: {sorted(arrays)}")
    for name, array, shape in pairs:
        fits = array.ndim == len(shape) and all(
            want is None or want == got for want, got in zip(shape, array.shape, strict=True))
        if not fits:
            wanted = tuple(shape)
            raise CheckError(f"INPUTS array {name!r} has shape {array.shape}; the model's "
                             f"input takes {wanted} (None: any size). "
                             f"Received: {name}.shape={array.shape}")


def _declared_bytes(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """The bytes a member of an `.npz` would take once read, from its header alone.

    A `.npy` member: its shape times its dtype's item size (`numpy.lib.format`'s header
    readers; the array itself is not read). Any other member: its uncompressed size, which
    `zipfile` never reads past.

    Raises:
        ValueError: a `.npy` header that cannot be parsed.
    """
    if not member.filename.endswith(".npy"):
        return member.file_size
    fmt = np.lib.format
    with archive.open(member) as stream:
        major, _ = fmt.read_magic(stream)
        # Format 3.0 is 2.0 with a UTF-8 header; the fields read here are ASCII in both.
        header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        shape, _, dtype = header(stream)
    count = 1
    for dim in shape:  # Python integers: a declared 10**30 elements cannot overflow
        count *= int(dim)
    return count * int(dtype.itemsize)


def check_input_sizes(path: Path, limit: int = INPUTS_LIMIT_BYTES) -> None:
    """Refuses an `.npz` whose members declare more than `limit` bytes, before any is read.

    Raises:
        CheckError: the member that takes the total past `limit`, or one whose header
            cannot be read; the message names the file and the member.
    """
    total = 0
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            try:
                size = _declared_bytes(archive, member)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise CheckError(f"INPUTS member {member.filename!r} has no readable .npy "
                                 f"header ({plain(exc, 200)}); save it with np.savez. "
                                 f"Received: {path}") from None
            total += size
            if total > limit:
                raise CheckError(
                    f"INPUTS member {member.filename!r} declares {size} bytes, which takes "
                    f"the inputs past the {limit} bytes `nox -s check` reads "
                    f"(INPUTS_LIMIT_BYTES); pass a smaller batch. Received: {path}")


def load_inputs(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays of an `.npz` file, by name.

    Every member's header is checked first (`check_input_sizes`): a file whose arrays
    declare more than `INPUTS_LIMIT_BYTES` is refused without reading them.

    Raises:
        CheckError: no such file, a `.npy` (one bare array), not a NumPy file at all, or
            arrays past `INPUTS_LIMIT_BYTES`.
    """
    if not path.is_file():
        raise CheckError(f"INPUTS: no such file; pass an .npz file (np.savez(path, "
                         f"name=array)). Received: {path}")
    if not zipfile.is_zipfile(path):
        # `np.load` would read a bare `.npy` array whole, however large its header says it is.
        with path.open("rb") as stream:
            bare = stream.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX
        if bare:
            raise CheckError("INPUTS must be an .npz file with one array per model input "
                             "(np.savez(path, name=array)), not a single .npy array. "
                             f"Received: {path}")
        raise CheckError("INPUTS must be an .npz file (np.savez(path, name=array)); this is "
                         f"not a zip archive. Received: {path}")
    try:
        check_input_sizes(path)
    except zipfile.BadZipFile as exc:
        raise CheckError(f"INPUTS must be an .npz file (np.savez(path, name=array)): {exc}. "
                         f"Received: {path}") from None
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckError(f"INPUTS must be an .npz file (np.savez(path, name=array)): {exc}. "
                         f"Received: {path}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CheckError("INPUTS must be an .npz file with one array per model input "
                         "(np.savez(path, name=array)), not a single .npy array. "
                         f"Received: {path}")
    try:
        with data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckError(f"INPUTS must be an .npz file (np.savez(path, name=array)): {exc}. "
                         f"Received: {path}") from None
