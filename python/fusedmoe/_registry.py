"""Layers by integer handle, so torch custom ops can name a layer with a plain int argument.

torch.compile treats the handle as a constant; the op's implementation looks the layer up at run
time for its plan, prepared weights and workspace (which are not graph inputs: they never change
between calls). The registry holds weak references: a dropped layer leaves no memory behind.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any, Dict

from . import _C

_layers: Dict[int, "weakref.ref[Any]"] = {}
_handles = itertools.count(1)


def register(layer: Any) -> int:
    handle = next(_handles)
    _layers[handle] = weakref.ref(layer, lambda _ref, key=handle: _layers.pop(key, None))
    return handle


def lookup(handle: int) -> Any:
    ref = _layers.get(handle)
    layer = ref() if ref is not None else None
    if layer is None:
        raise _C.InvalidArgumentError(
            f"fusedmoe: argument 'layer': expected the handle of a live fusedmoe.MoELayer, "
            f"got {handle} (the layer was garbage-collected or never made)")
    return layer
