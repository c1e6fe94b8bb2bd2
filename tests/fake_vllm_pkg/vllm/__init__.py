"""tests/fake_vllm.py as an importable `vllm` package, for processes the tests spawn (vllm data-parallel
replicas): with tests/fake_vllm_pkg on the parent's sys.path, spawned children import it as `vllm`."""

from fake_vllm import LLM, SamplingParams

__version__ = "0.0.0-fake"
__all__ = ["LLM", "SamplingParams"]
