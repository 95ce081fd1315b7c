"""Expert weights as the caller holds them (include/fusedmoe/weights.h has the shapes per format).

Local experts only (E_l rows), checkpoint layout until ``prepare_weights`` converts them in place
for a GPU backend and sets ``layout``. The extension reads the attributes by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Optional, Tuple

from ._C import WeightLayout


@dataclasses.dataclass
class ExpertWeights:
    w13: Any                        # gated [E_l, 2I, H] (row order: gate_up_layout) or [E_l, I, H]
    w2: Any                         # [E_l, H, I]
    w13_scale: Optional[Any] = None
    w2_scale: Optional[Any] = None
    w13_global_scale: Optional[Any] = None
    w2_global_scale: Optional[Any] = None
    w13_bias: Optional[Any] = None  # [E_l, N1], w13's row order
    w2_bias: Optional[Any] = None   # [E_l, H]
    a1_scale: Optional[Any] = None  # static FP8 activation scales, [1] or [E_l]
    a2_scale: Optional[Any] = None
    layout: WeightLayout = WeightLayout.CHECKPOINT

    def tensors(self) -> Iterator[Tuple[str, Any]]:
        """(name, tensor) for every tensor that is set."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "layout" and value is not None:
                yield field.name, value

    def for_extension(self, to_c) -> "ExpertWeights":
        """A copy whose tensors are converted by `to_c` (fp8 torch tensors as byte views)."""
        converted = {name: to_c(value) for name, value in self.tensors()}
        return dataclasses.replace(self, **converted)
