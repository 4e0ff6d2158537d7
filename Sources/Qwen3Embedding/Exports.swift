// Types that appear in the public API, re-exported so `import Qwen3Embedding` is all a user needs.
@_exported import enum Kernels.Precision
@_exported import enum Kernels.KernelPath
@_exported import struct Kernels.CPUFeatures
@_exported import class Qwen3.Qwen3Model
@_exported import struct Qwen3.Qwen3Configuration
@_exported import struct Qwen3.LoRAAdapter
@_exported import struct Qwen3.LoRAAdapterError
