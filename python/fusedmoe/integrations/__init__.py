"""Converters from other libraries' MoE modules to fusedmoe layers.

    from fusedmoe.integrations.hf import from_hf_block
    moe = from_hf_block(model.model.layers[3].mlp, model.config)   # HF transformers MoE block
    out = moe(hidden_states)

Importing this package imports neither torch nor transformers; `hf` needs torch.
"""

import importlib
from typing import Any

__all__ = ["from_hf_block", "hf"]


def from_hf_block(block: Any, config: Any, **kwargs: Any) -> Any:
    """fusedmoe.integrations.hf.from_hf_block (imports torch on first use)."""
    from .hf import from_hf_block as convert
    return convert(block, config, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "hf":
        # import_module, not `from . import hf`: that looks the attribute up again (recursion)
        # when the import fails (no torch).
        return importlib.import_module(f"{__name__}.hf")
    raise AttributeError(f"module 'fusedmoe.integrations' has no attribute {name!r}")
