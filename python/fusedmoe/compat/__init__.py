"""Drop-in layers for code written against other MoE libraries' Python APIs.

flashinfer: FlashInfer's trtllm_*_moe / *_routed_moe signatures (fusedmoe.compat.flashinfer).
"""
