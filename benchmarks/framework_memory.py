"""Framework memory accounting (issue #13) against the frameworks' own estimators and measured peaks.

    PYTHONPATH=$PWD python benchmarks/framework_memory.py

Prints, per configuration, our per-GPU bytes with ``--framework`` next to Megatron-LM's
``theoretical_memory_usage.py`` (tests/reference, commit d98e8a6; weights + optimizer and activations,
without CUDA context) and next to published measured peaks (catalogs/data/measured_memory.json). The same
numbers are asserted by tests/costmodel/test_frameworks.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# the repository root first: tests/catalogs (a test folder, no __init__) must not shadow the catalogs package
sys.path.insert(0, str(ROOT))

from costmodel.test_frameworks import (ALL_MEGATRON, MEASURED, _reserved_gib,  # noqa: E402
                                       megatron_case)

from planner.analysis.estimate import estimate  # noqa: E402
from planner.types.estimates import EstimateRequest  # noqa: E402
from reference import megatron_theoretical_memory as mg  # noqa: E402

MiB, GiB = 2**20, 2**30


def main() -> None:
    print("Megatron-LM theoretical_memory_usage.py (MiB per GPU) vs planner --framework megatron")
    print(f"{'config':52} {'params':>7} {'states ours/theirs':>22} {'activations ours/theirs':>25} {'total':>7}")
    for name in ALL_MEGATRON:
        if "mixtral" in name:
            continue
        shape, ours, ref = megatron_case(name)
        states = (ours["weights"] + ours["gradients"] + ours["optimizer"]) / MiB
        act = ours["activations"] / MiB
        print(f"{name:52} {shape.params / 1e9:6.1f}B {states:10,.0f}/{ref.weight_and_optimizer_mb:<10,.0f} "
              f"{act:12,.0f}/{ref.activation_mb:<11,.0f} {(states + act) / ref.total_mb - 1:+7.1%}")
    print("\nMeasured peaks (GiB per GPU): torchtitan rows are peak reserved (compared with total / (1 - 10 %)),")
    print("Megatron rows peak allocated (compared with total)")
    runs = {
        "tt-2412-t1-fsdp": dict(model="llama3.1-8b", gpus=8, micro_batch=2, zero=3, recompute="selective",
                                framework="torchtitan", seq_len=8192, precision="bf16"),
        "tt-2412-t3-fsdp": dict(model="llama3.1-8b", gpus=128, micro_batch=2, zero=3, recompute="selective",
                                framework="torchtitan", seq_len=8192, precision="bf16"),
        "tt-2412-t4-2d": dict(model="llama3.1-70b", gpus=256, tp=8, micro_batch=16, zero=3, recompute="full",
                              framework="torchtitan", seq_len=8192, precision="fp8"),
        "mcore-gpt3_7b_tp1_pp4_memory_speed-dgx_h100": dict(
            layers=32, hidden=4096, heads=32, kv_heads=8, ffn_hidden=16384, mlp="gelu", tied_embeddings=False,
            vocab=mg.padded_vocab_size(131073, 128, 1), gpus=8, pp=4, vpp=8, zero=1, recompute="none",
            micro_batch=1, framework="megatron", seq_len=8192, precision="bf16"),
    }
    for row_id, fields in runs.items():
        row = MEASURED[row_id]
        batch = row["global_batch_size"] * fields["seq_len"]
        e = estimate(EstimateRequest(tokens=1e9, gpu="h100-sxm", global_batch_tokens=batch,
                                     **{"tp": 1, "pp": 1, "cp": 1, **fields}))
        ours = _reserved_gib(e) if row["framework"] == "torchtitan" else e.memory_per_gpu_bytes / GiB
        print(f"{row_id:52} measured {row['measured_memory_gib']:6.1f}  ours {ours:6.1f}  "
              f"{ours / row['measured_memory_gib'] - 1:+6.1%}")


if __name__ == "__main__":
    main()
