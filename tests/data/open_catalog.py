"""A user catalog of Keras calls no hand-written record models (issue 24): each is judged by
its NumPy reference where the op table gives one (`ops.cumsum`, `ops.add`), else by agreement
across the backends that run it.

Keras 3.15.1, the five CPU columns. The cases are the issue's own examples.
"""

from cases import Case, Step, Tensor


def lower(text: object) -> object:
    """A `standardize=` callable for TextVectorization: lower case, via TensorFlow's strings."""
    import tensorflow as tf

    return tf.strings.lower(text)


CASES = [
    Case(group="open", description="ops.floor_divide(int32 by zero)",
         axes={"subject": "ops.floor_divide", "api": "floor_divide", "input_dtype": "int32",
               "mode": "eager"},
         inputs={"x": Tensor(dtype="int32", values=[7, -7, 0]),
                 "y": Tensor(dtype="int32", values=[0, 0, 0])},
         steps=(Step("ops.floor_divide", inputs=("x", "y"), output="q"),), mode="eager"),
    Case(group="open", description="ops.cumsum(int8 that overflows)",
         axes={"subject": "ops.cumsum", "api": "cumsum", "input_dtype": "int8", "mode": "eager"},
         inputs={"x": Tensor(dtype="int8", values=[100, 100, 100])},
         steps=(Step("ops.cumsum", inputs=("x",), output="s"),), mode="eager"),
    Case(group="open", description="ops.add(int8, uint8): Keras promotes to int16",
         axes={"subject": "ops.add", "api": "add", "input_dtype": "int8_uint8",
               "mode": "eager"},
         inputs={"x": Tensor(dtype="int8", values=[100, -100]),
                 "y": Tensor(dtype="uint8", values=[100, 200])},
         steps=(Step("ops.add", inputs=("x", "y"), output="s"),), mode="eager"),
    Case(group="open", description="Dense(4, dtype='float64')(Embedding(10, 3)(ids))",
         axes={"subject": "layers.Dense", "api": "dense_float64", "layer": "Embedding",
               "mode": "eager"},
         inputs={"ids": Tensor(dtype="int32", values=[[1, 2], [3, 4]])},
         steps=(Step("layers.Embedding", inputs=("ids",), output="e",
                     args={"input_dim": 10, "output_dim": 3}),
                Step("layers.Dense", inputs=("e",), output="d",
                     args={"units": 4, "dtype": "float64"})), mode="eager"),
    Case(group="open", description="ops.digitize(x, bins) with constant bins, predict",
         axes={"subject": "ops.digitize", "api": "digitize", "mode": "predict"},
         inputs={"x": Tensor(dtype="float32", values=[[0.5, 1.5, 2.5]]),
                 "bins": Tensor(dtype="float32", values=[1.0, 2.0], constant=True)},
         steps=(Step("ops.digitize", inputs=("x", "bins"), output="b"),), mode="predict"),
    Case(group="open", description="TextVectorization(standardize=lower, vocabulary=...)",
         axes={"subject": "layers.TextVectorization", "api": "text_vectorization", "mode": "eager"},
         inputs={"text": Tensor(dtype="string", values=["Hello World", "hello"])},
         steps=(Step("layers.TextVectorization", inputs=("text",), output="t",
                     args={"standardize": lower, "vocabulary": ["hello", "world"],
                           "output_sequence_length": 3}),), mode="eager"),
]
