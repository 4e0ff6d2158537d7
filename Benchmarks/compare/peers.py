"""ONNX Runtime and OpenVINO as peers of Benchmarks/compare (imported by compare.py).

The engines a sentence-transformers user is pointed to for fast CPU inference. Both run the very model
the other engines run (the random 0.6B-shaped bf16 safetensors of `compare.py prepare`), exported once:

  onnx-fp32       torch.onnx.export of the transformers model (fp32), ONNX Runtime CPU EP, all graph
                  optimisations (ORT_ENABLE_ALL)
  onnx-int8       the same graph through onnxruntime.quantization.quantize_dynamic: int8 weights per output
                  channel, activations quantized per tensor at run time (what ORT offers for dynamic int8)
  openvino-fp32   OpenVINO runtime on the exported ONNX, INFERENCE_PRECISION_HINT f32
  openvino-bf16   the same, precision hint bf16 (OpenVINO falls back to f32 where the CPU has no bf16)
  openvino-int8   weights compressed to int8 (NNCF compress_weights, INT8_ASYM), activations in the
                  precision OpenVINO picks for this CPU

Every exported graph computes what `compare.py` measures for PyTorch and llama.cpp: the final-norm hidden
state of the last token, L2-normalised (full-length rows, no padding), from token ids.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

PEER_ENGINES = [("onnx-fp32", "ONNX Runtime fp32"), ("onnx-int8", "ONNX Runtime int8"),
                ("openvino-fp32", "OpenVINO fp32"), ("openvino-bf16", "OpenVINO bf16"),
                ("openvino-int8", "OpenVINO int8 weights")]


def log(*args):
    import sys
    print(*args, file=sys.stderr, flush=True)


def onnx_path(model_dir: Path, kind: str) -> Path:
    """`<model>.onnx/<kind>/model.onnx`: a folder each, since the fp32 graph needs external weight data
    (protobuf files stop at 2 GB)."""
    return model_dir.with_suffix(".onnx") / kind / "model.onnx"


def openvino_path(model_dir: Path, kind: str) -> Path:
    return model_dir.with_suffix(".openvino") / kind / "model.xml"


class _LastTokenEmbedding:
    """Wraps the transformers model so the exported graph ends in the pooled, normalised vector."""

    @staticmethod
    def build(model_dir: Path):
        import torch
        from transformers import AutoModel

        class Wrapper(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids):
                hidden = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                    use_cache=False).last_hidden_state
                return torch.nn.functional.normalize(hidden[:, -1, :], dim=-1)

        model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32)
        model.eval()
        return Wrapper(model).eval()


def export_onnx(model_dir: Path):
    """fp32 ONNX (dynamic batch and length) and its dynamic-int8 quantization, made once."""
    fp32 = onnx_path(model_dir, "fp32")
    if not fp32.exists():
        import torch
        log(f"onnx: exporting {model_dir} to {fp32}")
        tmp = fp32.parent.with_name("fp32.partial")
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        wrapper = _LastTokenEmbedding.build(model_dir)
        example = torch.randint(0, 1000, (2, 16))
        with torch.no_grad():
            torch.onnx.export(wrapper, (example,), str(tmp / "model.onnx"), input_names=["input_ids"],
                              output_names=["embedding"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "embedding": {0: "batch"}},
                              opset_version=17, dynamo=False)
        # Gather every initializer into one external data file (the exporter may write one per tensor).
        import onnx
        graph = onnx.load(str(tmp / "model.onnx"))
        for f in tmp.iterdir():
            if f.name != "model.onnx":
                f.unlink()
        onnx.save_model(graph, str(tmp / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx.data", size_threshold=1024)
        shutil.rmtree(fp32.parent, ignore_errors=True)
        tmp.rename(fp32.parent)
    int8 = onnx_path(model_dir, "int8")
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic
        log(f"onnx: quantize_dynamic (int8 weights per channel) -> {int8}")
        int8.parent.mkdir(parents=True, exist_ok=True)
        quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8,
                         use_external_data_format=True)
    return fp32, int8


def export_openvino(model_dir: Path):
    """OpenVINO IR of the fp32 ONNX graph, and an int8-weight copy (NNCF)."""
    fp32_onnx, _ = export_onnx(model_dir)
    import openvino as ov
    fp32 = openvino_path(model_dir, "fp32")
    if not fp32.exists():
        log(f"openvino: converting {fp32_onnx} -> {fp32}")
        fp32.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(ov.convert_model(str(fp32_onnx)), str(fp32), compress_to_fp16=False)
    int8 = openvino_path(model_dir, "int8")
    if not int8.exists():
        import nncf
        log(f"openvino: NNCF compress_weights INT8_ASYM -> {int8}")
        int8.parent.mkdir(parents=True, exist_ok=True)
        model = ov.Core().read_model(str(fp32))
        ov.save_model(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM), str(int8),
                      compress_to_fp16=False)
    return fp32, int8


def prepare(model_dir: Path):
    export_onnx(model_dir)
    export_openvino(model_dir)


class _Session:
    """One loaded peer engine: `embed(ids) -> normalised vectors (numpy)` and a kernel description."""

    def __init__(self, engine: str, model_dir: Path, threads: int):
        self.engine = engine
        kind = engine.split("-", 1)[1]
        if engine.startswith("onnx-"):
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(onnx_path(model_dir, kind)), options,
                                                providers=["CPUExecutionProvider"])
            self.kernel = f"onnxruntime {ort.__version__} CPU EP ({kind})"
            self.precision = kind
        elif engine.startswith("openvino-"):
            import openvino as ov
            core = ov.Core()
            path = openvino_path(model_dir, "int8" if kind == "int8" else "fp32")
            hint = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[kind]
            config = {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads,
                      "PERFORMANCE_HINT": "LATENCY"}
            self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
            actual = self.compiled.get_property("INFERENCE_PRECISION_HINT")
            self.kernel = f"openvino {ov.__version__} CPU ({kind} model, inference precision {actual})"
            self.precision = kind
            self.request = self.compiled.create_infer_request()
        else:
            raise SystemExit(f"unknown peer engine {engine}")

    def embed(self, ids):
        import numpy as np
        x = np.asarray(ids, dtype=np.int64)
        if self.engine.startswith("onnx-"):
            return self.session.run(None, {"input_ids": x})[0]
        self.request.infer({0: x})
        return np.array(self.request.get_output_tensor(0).data, copy=True)


def run_peer(engine, model_dir: Path, batch, seq_len, threads, iterations, warmup, splitmix_ids, summarise):
    session = _Session(engine, model_dir, threads)
    ids = splitmix_ids(batch, seq_len)
    session.embed(ids if warmup == "full" else splitmix_ids(1, 16))
    lat = []
    for _ in range(iterations):
        t = time.perf_counter()
        session.embed(ids)
        lat.append((time.perf_counter() - t) * 1000)
    return summarise(lat, batch * seq_len, session.kernel, session.precision, threads, batch, seq_len)


def peer_embeddings(engine, model_dir: Path, rows, threads):
    """Embeddings of `rows` (token-id lists of any lengths), one row per call (no padding)."""
    import numpy as np
    session = _Session(engine, model_dir, threads)
    return np.stack([session.embed([row])[0] for row in rows])
