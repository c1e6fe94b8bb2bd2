"""The fake vllm.lora package (see ../__init__.py)."""
