"""The op contract, op values and the registry that maps names to kinds.

An *op kind* is what gets registered under a name: a function on a block of
frames plus what it declares (how it checks its parameter, how it changes the
frame spec, how a region of its output maps back to its input).  An *op* is a
frozen value: a kind with a parsed parameter, comparable, hashable into a dask
token and round-trippable through a config dict.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ops import transport as _transport
from ops.errors import OpResultError, OpUnavailableError, RegistrationError, UnknownOpError
from ops.spec import (  # noqa: F401  (check_result, param_error: re-exported for the ops)
    DROP,
    BlockFunc,
    FrameSpec,
    Region,
    check_result,
    param_equal,
    param_error,
    param_key,
    param_repr,
)


def _unchanged(param: Any, spec: FrameSpec) -> FrameSpec:
    return spec


def _accept(param: Any, spec: FrameSpec) -> Any:
    return param


def _identity(param: Any) -> Any:
    return param


@dataclasses.dataclass(frozen=True, eq=False)
class OpKind:
    """What is registered under a name.

    Parameters
    ----------
    name
        The name used in oplists, ``("name", param)``.
    func
        ``func(block, param) -> block`` on an array of shape ``(n, *frame_shape)``.
        It must not modify ``block`` in place: the block may be a view of the
        caller's data.
    parse
        ``parse(param) -> param``: type checks and normalises the parameter on
        its own (raise :class:`OpParameterError`).
    validate
        ``validate(param, spec) -> param``: checks the parsed parameter against
        the incoming frame spec when the op joins a chain.
    resolve
        ``resolve(param, spec) -> FrameSpec``: the outgoing frame spec, without
        computing a frame.
    crop
        For push-down: ``crop(param, spec, region_out) -> (region_in, param')``
        such that ``op(param)(x)[region_out] == op(param')(x[region_in])``;
        ``param'`` may be :data:`DROP`.  Return ``None`` when the region cannot
        be pushed through this op.  Absent: nothing is pushed through.
    axes
        ``axes(param, ndim) -> perm``: for each axis of the outgoing frame (of
        ``ndim`` axes), the incoming axis it comes from (a transpose swaps the
        last two), so that per-axis metadata such as pixel sizes follows.
        Absent: every axis stays where it is.
    """

    name: str
    func: BlockFunc
    parse: Callable[[Any], Any] = _identity
    validate: Callable[[Any, FrameSpec], Any] = _accept
    resolve: Callable[[Any, FrameSpec], FrameSpec] = _unchanged
    crop: Callable[[Any, FrameSpec, Region], tuple[Region, Any] | None] | None = None
    doc: str = ""
    axes: Callable[[Any, int], tuple[int, ...]] | None = None

    def __call__(self, param: Any) -> Op:
        return Op(self, param)

    def __repr__(self) -> str:
        return f"OpKind({self.name!r})"

    def __reduce__(self) -> Any:
        # a kind every fresh interpreter registers travels as its name; any other (a
        # notebook's, a script's, a module's the workers may lack) travels by value
        if _PORTABLE.get(self.name) is self:
            return (_portable_kind, (self.name,))
        fields = tuple(getattr(self, f.name) for f in dataclasses.fields(self))
        return (_kind_from_payload, (self.name, _transport.dumps(fields, fields[1:6])))

    @property
    def portable(self) -> bool:
        """True when this kind pickles as its name (a built-in or an entry point's op)."""
        return _PORTABLE.get(self.name) is self


class _PerFrame:
    """A per-frame function applied to a block; a class, not a closure, so that it pickles."""

    def __init__(self, func: Callable[[np.ndarray, Any], np.ndarray]) -> None:
        self.__wrapped__ = func
        self.__name__ = getattr(func, "__name__", "per_frame")

    def __call__(self, block: np.ndarray, param: Any) -> np.ndarray:
        return np.stack([np.asarray(self.__wrapped__(frame, param)) for frame in block])


def per_frame(func: Callable[[np.ndarray, Any], np.ndarray]) -> BlockFunc:
    """Wrap ``func(frame, param)`` as a block function, one frame at a time."""
    return _PerFrame(func)


def _probe_resolve(name: str, func: BlockFunc) -> Callable[[Any, FrameSpec], FrameSpec]:
    """The outgoing spec of a user op that declares none, found as dask finds ``meta``, but on
    one real frame of zeros of the incoming spec (an empty block tells nothing of a function
    that reduces or reshapes): known when the op joins a chain, never at the first frame."""

    def resolve(param: Any, spec: FrameSpec) -> FrameSpec:
        zero = np.zeros((1, *spec.shape), spec.dtype)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 0 / 0 on the zero frame says nothing
                out = np.asarray(func(zero, param))
        except Exception as err:  # noqa: BLE001  (whatever the user's function raises)
            raise OpResultError(
                f"op {name!r} failed on a frame of zeros of shape {spec.shape} {spec.dtype}, "
                f"which is how the shape and dtype of its frames are found: "
                f"{type(err).__name__}: {err}; register it with resolve= to declare them"
            ) from err
        if out.ndim != len(spec.shape) + 1 or out.shape[0] != 1:
            raise OpResultError(
                f"op {name!r} returned an array of shape {out.shape} for a block of 1 frame "
                f"of shape {spec.shape}; an op returns as many frames as it is given (a "
                "per_frame=True op returns one frame)")
        return FrameSpec(out.shape[1:], out.dtype)

    return resolve


HOOKS: dict[str, tuple[int, str]] = {
    "func": (2, "func(block, param)"),
    "parse": (1, "parse(param)"),
    "validate": (2, "validate(param, spec)"),
    "resolve": (2, "resolve(param, spec)"),
    "crop": (3, "crop(param, spec, region)"),
    "axes": (2, "axes(param, ndim)"),
}
"""What :meth:`Registry.register` calls each function it is given with."""


def _check_callable(name: str, hook: str, f: Any, per_frame: bool = False) -> None:
    """Refuse, at registration, a function the framework cannot call as it will."""
    nargs, call = HOOKS[hook]
    if per_frame:
        call = "func(frame, param)"
    if not callable(f):
        raise RegistrationError(f"op {name!r}: {hook}= must be a function, {call}; got "
                                f"{f!r:.80}")
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):  # a builtin without a signature: it will tell when called
        return
    try:
        signature.bind(*range(nargs))
    except TypeError as err:
        label = getattr(f, "__name__", type(f).__name__)
        raise RegistrationError(
            f"op {name!r}: {hook} is called as {call}, with {nargs} argument"
            f"{'s' * (nargs > 1)}; {label}{signature} cannot be ({err})") from None


class Op:
    """One op of a chain: a registered kind with its parsed parameter. Immutable."""

    __slots__ = ("kind", "param")
    kind: OpKind
    param: Any

    def __init__(self, kind: OpKind | str, param: Any = None) -> None:
        if isinstance(kind, str):
            kind = registry.lookup(kind)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "param", kind.parse(param))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def name(self) -> str:
        return self.kind.name

    def validate(self, spec: FrameSpec) -> Op:
        """This op checked against the incoming spec (a new value if the parameter changed)."""
        param = self.kind.validate(self.param, spec)
        return self if param is self.param else Op(self.kind, param)

    def resolve(self, spec: FrameSpec) -> FrameSpec:
        return self.kind.resolve(self.param, spec)

    def apply(self, block: np.ndarray) -> np.ndarray:
        return self.kind.func(block, self.param)

    def crop(self, spec: FrameSpec, region: Region) -> tuple[Region, Op | None] | None:
        """Push ``region`` of this op's output back to its input (see :class:`OpKind`)."""
        if self.kind.crop is None:
            return None
        pushed = self.kind.crop(self.param, spec, region)
        if pushed is None:
            return None
        region_in, param = pushed
        return region_in, (None if param is DROP else Op(self.kind, param))

    def axis_map(self, ndim: int) -> tuple[int, ...] | None:
        """For each axis of the outgoing frame, the incoming one; ``None`` if not declared."""
        return None if self.kind.axes is None else tuple(self.kind.axes(self.param, ndim))

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "param": self.param}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], registry: Registry | None = None) -> Op:
        reg = registry if registry is not None else globals()["registry"]
        return cls(reg.lookup(config["name"]), config.get("param"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Op):
            return NotImplemented
        return self.kind is other.kind and param_equal(self.param, other.param)

    def __hash__(self) -> int:
        return hash((self.name, param_key(self.param)))

    def __dask_tokenize__(self) -> tuple[str, str]:
        from dask.base import tokenize

        return (self.name, tokenize(self.param))

    def __reduce__(self) -> tuple[Any, ...]:
        if _plain(self.param):  # the kind pickles itself, by name or by value
            return (_trusted_op, (self.kind, self.param))
        # the parameter's own classes may live where the kind's functions do
        carry = (self.param, *(getattr(self.kind, f) for f in _CALLABLES))
        return (_op_from_payload, (self.name, _transport.dumps((self.kind, self.param), carry)))

    def __repr__(self) -> str:
        return f"Op({self.name!r}, {param_repr(self.param)})"


# -- travelling to other processes (see ops._transport) ---------------------------------

_CALLABLES = ("func", "parse", "validate", "resolve", "crop")


def _plain(param: Any) -> bool:
    """A parameter that unpickles anywhere: numbers, strings, numeric arrays, tuples of those."""
    if param is None or isinstance(param, str | bytes | int | float | complex | np.generic):
        return True
    if isinstance(param, np.ndarray):
        return param.dtype.kind in "biufcSU"
    if isinstance(param, tuple | list):
        return all(_plain(p) for p in param)
    return False


def _trusted_op(kind: OpKind, param: Any) -> Op:
    # the parameter was parsed when the op was made: do not parse it again
    op = Op.__new__(Op)
    object.__setattr__(op, "kind", kind)
    object.__setattr__(op, "param", param)
    return op


class _Unavailable:
    """The function of an op that reached a process which cannot run it: raises when called."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason

    def __call__(self, *args: Any) -> Any:
        raise OpUnavailableError(
            f"op {self.name!r} cannot run in this process (pid {os.getpid()}): {self.reason}. "
            "Define the op in the client (it then travels with the graph), or install the "
            "module that provides it on every worker"
        )


def unavailable_kind(name: str, reason: str) -> OpKind:
    """A stand-in kind whose every use raises :class:`OpUnavailableError` naming ``name``."""
    fail = _Unavailable(name, reason)
    return OpKind(name, fail, parse=_identity, validate=fail, resolve=fail)


def _portable_kind(name: str) -> OpKind:
    try:
        return registry.lookup(name)
    except Exception as err:  # noqa: BLE001  (never raise while unpickling: a worker dies of it)
        return unavailable_kind(name, f"it is not registered here ({type(err).__name__}: {err})")


def _kind_from_payload(name: str, payload: bytes) -> OpKind:
    fields, reason = _transport.loads(payload)
    return OpKind(*fields) if reason is None else unavailable_kind(name, reason)


def _op_from_payload(name: str, payload: bytes) -> Op:
    parts, reason = _transport.loads(payload)
    if reason is not None:
        return _trusted_op(unavailable_kind(name, reason), None)
    return _trusted_op(*parts)


class Registry(Mapping[str, OpKind]):
    """Names to op kinds. ``parent`` is consulted for names this registry lacks."""

    def __init__(self, parent: Registry | None = None, entry_points: str | None = None) -> None:
        self._kinds: dict[str, OpKind] = {}
        self._parent = parent
        self._group = entry_points
        self._offered: dict[str, Any] | None = None  # entry points by name, read once

    def add(self, kind: OpKind, *, replace: bool = False) -> OpKind:
        if kind.name in self._kinds and not replace:
            raise RegistrationError(
                f"an op named {kind.name!r} is already registered; "
                "pass replace=True to replace it"
            )
        self._kinds[kind.name] = kind
        return kind

    def remove(self, name: str) -> None:
        del self._kinds[name]

    def lookup(self, name: str) -> OpKind:
        if not isinstance(name, str):
            raise UnknownOpError(f"op names are strings, got {name!r}")
        if name in self._kinds:
            return self._kinds[name]
        if self._parent is not None and name in self._parent:
            return self._parent.lookup(name)
        if name in self._entry_points():
            return self._load(name)
        raise UnknownOpError(f"unknown op {name!r}; registered ops are: {sorted(self)}")

    def _entry_points(self) -> dict[str, Any]:
        """Names offered by installed distributions; read once, each loaded on first lookup."""
        if self._offered is None:
            from importlib.metadata import entry_points

            group = () if self._group is None else entry_points(group=self._group)
            self._offered = {ep.name: ep for ep in group}
        return self._offered

    def _load(self, name: str) -> OpKind:
        ep = self._entry_points()[name]
        kind = ep.load()
        if not isinstance(kind, OpKind) or kind.name != name:
            raise RegistrationError(
                f"entry point {name} = {ep.value!r} in group {self._group!r} must be an "
                f"OpKind named {name!r}, got {kind!r:.80}"
            )
        _PORTABLE[name] = kind  # a fresh interpreter with the same installs finds it too
        return self.add(kind, replace=True)

    def register(
        self,
        name: str,
        func: Callable[..., np.ndarray] | None = None,
        *,
        per_frame: bool = False,
        parse: Callable[[Any], Any] | None = None,
        validate: Callable[[Any, FrameSpec], Any] | None = None,
        resolve: Callable[[Any, FrameSpec], FrameSpec] | None = None,
        crop: Callable[[Any, FrameSpec, Region], tuple[Region, Any] | None] | None = None,
        axes: Callable[[Any, int], tuple[int, ...]] | None = None,
        replace: bool = False,
    ) -> Any:
        """Register ``func(block, param)`` under ``name``; usable as a decorator.

        With ``per_frame=True``, ``func(frame, param)`` takes one frame and the
        registry applies it frame by frame.  Without ``resolve``, the shape and
        dtype of the op's frames are found when it joins a chain, by running it
        on one frame of zeros of the incoming spec; an op that fails there must
        declare them with ``resolve(param, spec) -> FrameSpec``.  Every function
        given is checked now against how it will be called: ``func(block,
        param)``, ``parse(param)``, ``validate(param, spec)``, ``resolve(param,
        spec)``, ``crop(param, spec, region)``, ``axes(param, ndim)``.  Returns
        ``func`` unchanged.
        """

        hooks = {"parse": parse, "validate": validate, "resolve": resolve, "crop": crop,
                 "axes": axes}
        for hook, given in hooks.items():
            if given is not None:
                _check_callable(name, hook, given)

        def decorate(f: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
            _check_callable(name, "func", f, per_frame)
            block_func = _per_frame(f) if per_frame else f
            kind = OpKind(
                name=name,
                func=block_func,
                parse=parse or _identity,
                validate=validate or _accept,
                resolve=resolve or _probe_resolve(name, block_func),
                crop=crop,
                doc=(f.__doc__ or "").strip(),
                axes=axes,
            )
            self.add(kind, replace=replace)
            return f

        return decorate if func is None else decorate(func)

    def __getitem__(self, name: str) -> OpKind:
        return self.lookup(name)

    def __contains__(self, name: object) -> bool:
        # the same answer as lookup: entry points count before they are loaded
        return (name in self._kinds or (self._parent is not None and name in self._parent)
                or name in self._entry_points())

    def __iter__(self) -> Iterator[str]:
        names = set(self._kinds) | set(self._entry_points())
        if self._parent is not None:
            names |= set(self._parent)
        return iter(sorted(names))

    def __len__(self) -> int:
        return len(set(self))

    def child(self) -> Registry:
        """A registry that sees this one's ops and adds its own (``ps.addop``)."""
        return Registry(parent=self)

    def snapshot(self) -> dict[str, OpKind]:
        return dict(self._kinds)

    def restore(self, kinds: dict[str, OpKind]) -> None:
        self._kinds = dict(kinds)


_per_frame = per_frame

ENTRY_POINT_GROUP = "lazyseries.ops"

registry = Registry(entry_points=ENTRY_POINT_GROUP)
"""The process-wide registry; the built-in ops are added to it in ``ops/__init__.py``."""

_PORTABLE: dict[str, OpKind] = {}
"""Kinds a fresh interpreter registers under the same name (built-ins, entry points' ops)."""


def add_portable(kind: OpKind) -> OpKind:
    """Register a kind every process importing ``ops`` registers too: it pickles by name."""
    _PORTABLE[kind.name] = kind
    return registry.add(kind)


def register(name: str, func: Callable[..., np.ndarray] | None = None, **kwargs: Any) -> Any:
    """Register an op in the process-wide registry; see :meth:`Registry.register`."""
    return registry.register(name, func, **kwargs)


def lookup(name: str) -> OpKind:
    """The op kind registered under ``name``; :class:`UnknownOpError` if none."""
    return registry.lookup(name)
