"""The pipeline DSL: ``@step`` functions, ``ScriptStep`` scripts and ``@pipeline`` functions.

A pipeline function is traced, not executed: while it runs under :func:`trace`, calling a
step records a node and returns :class:`OutputRef` handles instead of values, and pipeline
parameters are :class:`ParamRef` placeholders. Outside a trace, calling a step runs the plain
function, which keeps steps unit-testable.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import operator
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from gyre.errors import GyreError, InvalidPipeline, did_you_mean

F = TypeVar("F", bound=Callable[..., Any])
_PathBase: type[Path] = type(Path())


class Dir(_PathBase):  # type: ignore[valid-type,misc]
    """A directory passed between steps: annotate an output ``-> Dir`` and return its path."""


class File(_PathBase):  # type: ignore[valid-type,misc]
    """A single file passed between steps: annotate an output ``-> File`` and return its path."""


@dataclass(frozen=True, eq=False)
class ParamRef:
    """A pipeline parameter seen while tracing.

    Passed to a step, it becomes a parameter binding. Used for the pipeline's shape (a loop
    count, a condition) it acts as its value, which the trace was made with.
    """

    name: str
    value: Any = None

    def __index__(self) -> int:
        return int(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __eq__(self, other: object) -> bool:
        return bool(self.value == (other.value if isinstance(other, ParamRef) else other))

    def __lt__(self, other: Any) -> bool:
        return bool(self.value < other)

    def __gt__(self, other: Any) -> bool:
        return bool(self.value > other)

    def __hash__(self) -> int:
        return hash(self.name)


def _forward(op: Callable[[Any, Any], Any]) -> Callable[[ParamRef, Any], Any]:
    def method(self: ParamRef, other: Any) -> Any:
        return op(self.value, other.value if isinstance(other, ParamRef) else other)

    return method


def _reverse(op: Callable[[Any, Any], Any]) -> Callable[[ParamRef, Any], Any]:
    def method(self: ParamRef, other: Any) -> Any:
        return op(other, self.value)

    return method


# Arithmetic and comparisons on a parameter while tracing give plain values (the trace was made
# with the parameter's value; a step receiving the result gets it as a constant).
_ARITHMETIC = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow")
for _name in (*_ARITHMETIC, "le", "ge", "ne"):
    setattr(ParamRef, f"__{_name}__", _forward(getattr(operator, _name)))
for _name in _ARITHMETIC:
    setattr(ParamRef, f"__r{_name}__", _reverse(getattr(operator, _name)))


@dataclass(frozen=True)
class OutputRef:
    """The output ``output`` of the step node ``node``, seen while tracing."""

    node: str
    output: str
    annotation: Any = None

    def __fspath__(self) -> str:
        raise InvalidPipeline(
            f"The output {self.output!r} of step {self.node!r} was used as a path inside the "
            "pipeline function. Pipeline functions only wire steps together: pass it to a "
            "step and use it there."
        )


@dataclass(frozen=True)
class Output:
    """A placeholder for an output path in a ``ScriptStep``'s arguments."""

    name: str
    file: bool = False


@dataclass
class Resources:
    cpus: float = 1.0
    gpus: int = 0
    memory: int | None = None  # bytes

    @classmethod
    def parse(cls, spec: dict[str, Any] | None, where: str) -> Resources:
        spec = dict(spec or {})
        unknown = set(spec) - {"cpus", "gpus", "memory"}
        if unknown:
            raise InvalidPipeline(
                f"{where}: unknown resource {sorted(unknown)[0]!r}; use cpus, gpus and memory."
            )
        memory = spec.get("memory")
        return cls(
            cpus=float(spec.get("cpus", 1)),
            gpus=int(spec.get("gpus", 0)),
            memory=parse_bytes(memory, where) if memory is not None else None,
        )


def parse_bytes(value: Any, where: str) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise InvalidPipeline(
            f"{where}: memory {value!r} is not a size; write it like '512MB' or '8GB'."
        ) from None


DEFAULT_OUTPUTS: tuple[str, ...] = ("output",)
"""A step that declares no outputs has one, called ``output``."""


@dataclass
class StepOptions:
    name: str
    reuse: bool = True
    retries: int = 0
    timeout: float | None = None
    resources: Resources = field(default_factory=Resources)
    requirements: str | None = None
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS
    compute: str | None = None
    isolate: bool = False


class Step(Generic[F]):
    """A Python function that runs as one step of a pipeline, in its own process."""

    def __init__(self, func: F, options: StepOptions) -> None:
        self.func = func
        self.options = options
        self.signature = inspect.signature(func)
        self.defined_at = f"{inspect.getsourcefile(func)}:{func.__code__.co_firstlineno}"
        functools.update_wrapper(self, func)

    @property
    def name(self) -> str:
        return self.options.name

    def named(self, name: str) -> Step[F]:
        """The same step under another node name, to call it twice in one pipeline."""
        options = StepOptions(**{**self.options.__dict__, "name": name})
        return Step(self.func, options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = _TRACER.get()
        if tracer is None:
            return self.func(*args, **kwargs)
        return tracer.add_function_step(self, args, kwargs)


@overload
def step(func: F) -> Step[F]: ...
@overload
def step(
    *,
    name: str | None = None,
    reuse: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    resources: dict[str, Any] | None = None,
    requirements: str | None = None,
    outputs: tuple[str, ...] | list[str] | None = None,
    compute: str | None = None,
    isolate: bool = False,
) -> Callable[[F], Step[F]]: ...


def step(
    func: F | None = None,
    *,
    name: str | None = None,
    reuse: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    resources: dict[str, Any] | None = None,
    requirements: str | None = None,
    outputs: tuple[str, ...] | list[str] | None = None,
    compute: str | None = None,
    isolate: bool = False,
) -> Step[F] | Callable[[F], Step[F]]:
    """Declare a pipeline step.

    Args:
        name: node name in the pipeline (default: the function's name).
        reuse: ``False`` always re-runs the step, whatever its cache key.
        retries: how often a failed attempt is retried before the step fails.
        timeout: seconds after which an attempt is killed.
        resources: ``{"cpus": 2, "gpus": 1, "memory": "8GB"}``.
        requirements: a requirements file; its content is part of the cache key.
        outputs: names of the outputs when the step returns a tuple.
        compute: a compute target (``gyre compute add``) to run on instead of local processes.
        isolate: on a Ray target, run in a fresh worker process (``max_calls=1``).

    Example:
        >>> @step
        ... def double(x: int = 2) -> int:
        ...     return 2 * x
    """

    def wrap(f: F) -> Step[F]:
        where = (
            f"step {name or f.__name__!r} ({f.__code__.co_filename}:{f.__code__.co_firstlineno})"
        )
        options = StepOptions(
            name=name or f.__name__,
            reuse=reuse,
            retries=retries,
            timeout=timeout,
            resources=Resources.parse(resources, where),
            requirements=requirements,
            outputs=tuple(outputs) if outputs else DEFAULT_OUTPUTS,
            compute=compute,
            isolate=isolate,
        )
        return Step(f, options)

    return wrap(func) if func is not None else wrap


class ScriptStep:
    """An existing script run as a step, its inputs and outputs passed as path arguments.

    Example (inside a ``@pipeline`` function)::

        train = ScriptStep("train.py", args=["--source_path", data, "--target_path",
                                             Output("model")])
        register(train.outputs["model"])
    """

    def __init__(
        self,
        script: str | Path,
        args: list[Any] | None = None,
        *,
        name: str | None = None,
        reuse: bool = True,
        retries: int = 0,
        timeout: float | None = None,
        resources: dict[str, Any] | None = None,
        requirements: str | None = None,
    ) -> None:
        caller = sys._getframe(1)
        base = Path(caller.f_code.co_filename).parent
        self.script = (base / script).resolve()
        self.args = list(args or [])
        self.defined_at = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        where = f"script step {name or self.script.stem!r} ({self.defined_at})"
        self.options = StepOptions(
            name=name or self.script.stem,
            reuse=reuse,
            retries=retries,
            timeout=timeout,
            resources=Resources.parse(resources, where),
            requirements=requirements,
            outputs=tuple(a.name for a in self.args if isinstance(a, Output)),
        )
        if not self.script.is_file():
            raise InvalidPipeline(
                f"{where}: the script {self.script} does not exist. Give its path relative "
                "to the pipeline file."
            )
        tracer = _TRACER.get()
        if tracer is None:
            raise InvalidPipeline(
                f"{where}: a ScriptStep can only be created inside a @pipeline function."
            )
        self.outputs: dict[str, OutputRef] = tracer.add_script_step(self)

    @property
    def name(self) -> str:
        return self.options.name

    def __getitem__(self, output: str) -> OutputRef:
        return self.outputs[output]


@dataclass(frozen=True)
class PipelineParam:
    name: str
    annotation: Any
    default: Any


class Pipeline:
    """A traced function whose step calls form a DAG."""

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name
        self.defined_at = f"{inspect.getsourcefile(func)}:{func.__code__.co_firstlineno}"
        functools.update_wrapper(self, func)
        hints = _type_hints(func)
        self.params: dict[str, PipelineParam] = {}
        for p in inspect.signature(func).parameters.values():
            if p.default is inspect.Parameter.empty:
                raise InvalidPipeline(
                    f"Pipeline {name!r} ({self.defined_at}): parameter {p.name!r} has no "
                    "default. Give every pipeline parameter a default value."
                )
            self.params[p.name] = PipelineParam(
                p.name, hints.get(p.name, type(p.default)), p.default
            )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidPipeline(
            f"Pipeline {self.name!r} is not called directly: run it with gyre.run({self.name}) "
            f"or 'gyre run FILE:{self.name}'."
        )


def pipeline(func: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Declare a pipeline: a function whose step calls are traced into a DAG."""

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name or f.__name__)

    return wrap(func) if func is not None else wrap


# --- tracing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """Where one argument of a step node comes from."""

    kind: str  # "input" | "param" | "const"
    ref: OutputRef | None = None
    param: str | None = None
    value: Any = None


@dataclass
class Node:
    name: str
    step: Step[Any] | ScriptStep
    bindings: dict[str, Binding]
    annotations: dict[str, Any]
    defined_at: str
    after: list[str] = field(default_factory=list)

    @property
    def options(self) -> StepOptions:
        return self.step.options

    @property
    def inputs(self) -> dict[str, OutputRef]:
        return {k: b.ref for k, b in self.bindings.items() if b.kind == "input" and b.ref}

    @property
    def upstream(self) -> set[str]:
        return {ref.node for ref in self.inputs.values()} | set(self.after)


_TRACER: contextvars.ContextVar[_Tracer | None] = contextvars.ContextVar(
    "gyre_tracer", default=None
)


class _Tracer:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.nodes: dict[str, Node] = {}
        self.ordering: list[tuple[str, list[str]]] = []

    def _check_name(self, name: str, defined_at: str) -> None:
        if name in self.nodes:
            raise InvalidPipeline(
                f"Pipeline {self.pipeline.name!r}: two steps are named {name!r} "
                f"({self.nodes[name].defined_at} and {defined_at}). Give one another name: "
                f"{name}.named('{name}_2')(...) or @step(name=...)."
            )

    def _second_call_named(self, step: Step[Any]) -> Step[Any]:
        """The same step function called again gets a derived, stable name (``work_2``,
        ``work_3``, ... in call order), as Prefect and Airflow do; two different functions
        under one name are still refused by ``_check_name``."""
        taken = self.nodes.get(step.name)
        if taken is None or getattr(taken.step, "func", None) is not step.func:
            return step
        number = 2
        while f"{step.name}_{number}" in self.nodes:
            number += 1
        return step.named(f"{step.name}_{number}")

    def _bind_value(self, node: str, arg: str, value: Any) -> Binding:
        if isinstance(value, OutputRef):
            return Binding("input", ref=value)
        if isinstance(value, ParamRef):
            return Binding("param", param=value.name)
        if isinstance(value, tuple) and value and all(isinstance(v, OutputRef) for v in value):
            raise InvalidPipeline(
                f"Pipeline {self.pipeline.name!r}: step {node!r} got a tuple of outputs for "
                f"{arg!r}. Unpack the producing step's outputs: a, b = producer(...)."
            )
        return Binding("const", value=value)

    def add_function_step(
        self, step: Step[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        caller = sys._getframe(2)
        defined_at = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        step = self._second_call_named(step)
        self._check_name(step.name, defined_at)
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidPipeline(
                f"Pipeline {self.pipeline.name!r} ({defined_at}): step {step.name!r} cannot be "
                f"called like this: {exc}."
            ) from None
        hints = _type_hints(step.func)
        bindings = {k: self._bind_value(step.name, k, v) for k, v in bound.arguments.items()}
        for p in step.signature.parameters.values():
            if p.name not in bindings and p.default is not inspect.Parameter.empty:
                bindings[p.name] = Binding("const", value=p.default)
        node = Node(step.name, step, bindings, hints, defined_at)
        self.nodes[step.name] = node
        ret = hints.get("return")
        outputs = step.options.outputs
        if len(outputs) == 1:
            return OutputRef(step.name, outputs[0], ret)
        item_types = getattr(ret, "__args__", None) or (None,) * len(outputs)
        return tuple(OutputRef(step.name, o, t) for o, t in zip(outputs, item_types, strict=False))

    def add_script_step(self, script: ScriptStep) -> dict[str, OutputRef]:
        self._check_name(script.name, script.defined_at)
        bindings: dict[str, Binding] = {}
        for index, arg in enumerate(script.args):
            if isinstance(arg, Output):
                bindings[f"arg{index}"] = Binding("const", value=arg)
            else:
                bindings[f"arg{index}"] = self._bind_value(script.name, f"arg{index}", arg)
        self.nodes[script.name] = Node(script.name, script, bindings, {}, script.defined_at)
        return {
            a.name: OutputRef(script.name, a.name, File if a.file else Dir)
            for a in script.args
            if isinstance(a, Output)
        }


def after(node: str | OutputRef, *upstream: str | OutputRef) -> None:
    """Inside a pipeline function: run step ``node`` only after the ``upstream`` steps.

    For an order that no data dependency expresses (e.g. a step that reads what another wrote
    outside gyre).
    """
    tracer = _TRACER.get()
    if tracer is None:
        raise InvalidPipeline("gyre.after(...) can only be called inside a @pipeline function.")
    name = node.node if isinstance(node, OutputRef) else node
    names = [u.node if isinstance(u, OutputRef) else u for u in upstream]
    tracer.ordering.append((name, names))


@contextmanager
def _tracing(pipeline: Pipeline) -> Iterator[_Tracer]:
    tracer = _Tracer(pipeline)
    token = _TRACER.set(tracer)
    try:
        yield tracer
    finally:
        _TRACER.reset(token)


def trace(pipeline: Pipeline, values: dict[str, Any] | None = None) -> dict[str, Node]:
    """Run the pipeline function with placeholders and return its step nodes in call order.

    ``values`` are the resolved parameters (defaults when omitted); they decide the shape of
    pipelines that loop or branch on a parameter.
    """
    values = values if values is not None else {n: p.default for n, p in pipeline.params.items()}
    with _tracing(pipeline) as tracer:
        try:
            pipeline.func(**{name: ParamRef(name, values[name]) for name in pipeline.params})
        except GyreError:
            raise
        except Exception as exc:
            import traceback

            frames = traceback.extract_tb(exc.__traceback__)
            where = next(
                (
                    f"{f.filename}:{f.lineno}"
                    for f in reversed(frames)
                    if f.filename == inspect.getsourcefile(pipeline.func)
                ),
                pipeline.defined_at,
            )
            raise InvalidPipeline(
                f"Pipeline {pipeline.name!r} could not be traced: {type(exc).__name__}: {exc} "
                f"(at {where}). A pipeline function only wires steps together: compute values "
                "inside steps, which receive real inputs."
            ) from exc
    for name, upstream in tracer.ordering:
        if name not in tracer.nodes:
            raise InvalidPipeline(
                f"Pipeline {pipeline.name!r}: gyre.after names the step {name!r}, which the "
                f"pipeline does not call.{did_you_mean(name, tracer.nodes)}"
            )
        tracer.nodes[name].after.extend(upstream)
    return tracer.nodes


def _type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Annotations, resolved where possible; unresolvable ones stay strings."""
    import typing

    try:
        return typing.get_type_hints(func)
    except Exception:
        return dict(getattr(func, "__annotations__", {}))
