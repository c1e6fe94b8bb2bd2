"""The fake vllm.lora.request (see ../../__init__.py)."""

from fake_vllm import LoRARequest

__all__ = ["LoRARequest"]
