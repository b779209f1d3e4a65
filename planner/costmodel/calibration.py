"""Constants of the throughput model that are not physics, with where they come from.

Issue #14 replaced the single fitted GEMM efficiency by an efficiency that depends on what it
should: a per-(GPU generation, precision) ceiling read from public best-shape GEMM measurements
(``catalogs/data/efficiency.toml`` [[gemm_peak]]), times a shape factor that falls when a GEMM
dimension is small after sharding, with the attention core charged at FlashAttention-2 speed by
generation and sequence length. Only GEMM_N_HALF, MEMORY_BYTES_PER_LAYER_TOKEN_PER_HIDDEN and TP_COMM_OVERLAP are
fitted, by ``benchmarks/accuracy.py --fit`` on the ``calibration`` families of
``catalogs/data/validation_runs.json`` (weighted by family); the held-out families check them.
Everything else is an assumption or a measurement, named below.
"""

# Best achievable dense GEMM throughput as a fraction of the precision's dense peak, by GPU
# generation (Stas Bekman's mamf-finder shape sweep, stas00/ml-engineering
# compute/accelerator/README.md, "Maximum Achievable Matmul FLOPS comparison table"; copied in
# catalogs/data/efficiency.toml [[gemm_peak]]): A100 SXM BF16 271.2/312 = 0.869, H100 SXM BF16
# 794.5/989 = 0.803, H100 FP8 1402.6/1979 = 0.709, B200 BF16 1745/2250 = 0.776, FP8 3432.5/4500 =
# 0.763. FP16 runs at the BF16 rate. V100 has no public sweep: 0.80 is an assumption (cuBLAS
# reaches ~100 of 125 TFLOP/s on large FP16 GEMMs; the Megatron 2020 V100 rows stay below 0.6
# end to end). Ada (L4/L40S) and unknown parts take the Hopper values; the catalog's
# ``gemm_efficiency_factor`` scales non-NVIDIA stacks (MI300X 0.65 ⇒ 0.52 ≈ its MAMF 0.514).
GEMM_CEILING = {
    ("volta", "fp16"): 0.80,
    ("ampere", "bf16"): 0.869, ("ampere", "fp16"): 0.869, ("ampere", "tf32"): 0.869,
    ("hopper", "bf16"): 0.803, ("hopper", "fp16"): 0.803, ("hopper", "tf32"): 0.803,
    ("hopper", "fp8"): 0.709,
    ("blackwell", "bf16"): 0.776, ("blackwell", "fp16"): 0.776, ("blackwell", "tf32"): 0.776,
    ("blackwell", "fp8"): 0.763,
}
DEFAULT_GEMM_CEILING = 0.803
# Plain fp32 (no tensor cores) runs on CUDA cores, close to their peak on large GEMMs. Assumption.
FP32_CEILING = 0.90

# End-to-end envelope: the best model-FLOP utilisation (the planner's convention, 6·N + 12·L·h·s
# FLOPs per token against the precision's dense peak) that a published run of the calibration
# families of catalogs/data/validation_runs.json reached on that generation and precision. No step
# is predicted faster than that (throughput.step_time_breakdown, "mfu_envelope" in the breakdown):
# the solver searches layouts no published run used (TP = 1 ZeRO-3 at 40B with selective recompute
# predicted 61.5 % MFU on H100 BF16 before this envelope), and where the model was never checked it
# must not promise more than anyone has measured. Rows (benchmarks/accuracy.py prints them;
# tests/accuracy/test_mfu_envelope.py recomputes every value from the data):
#   volta fp16     0.499  megatron-v1.0-gpt1.2b-v100-1gpu (Megatron-LM v1.0 README, 1.2B on one V100)
#   ampere bf16    0.613  flash-attn-training-gpt3-2.7b (FlashAttention training scripts, 8 × A100 80GB)
#   hopper bf16    0.594  dgxc-llama31-8b-bf16-8gpu (NVIDIA dgxc-benchmarking v24.11.1, Llama 3.1 8B)
#   hopper fp8     0.425  nemo2407-gpt3-175b-h100-fp8-512gpu (NeMo 24.07, GPT-3 175B FP8, of the FP8 peak)
# FP16 takes the BF16 value and vice versa (same tensor-core rate); Blackwell and parts of no listed
# generation take the Hopper fractions (assumption: no published row); TF32/FP32 have no envelope.
MFU_ENVELOPE = {
    ("volta", "fp16"): 0.499,
    ("ampere", "bf16"): 0.613, ("ampere", "fp16"): 0.613,
    ("hopper", "bf16"): 0.594, ("hopper", "fp16"): 0.594, ("hopper", "fp8"): 0.425,
}
DEFAULT_MFU_ENVELOPE = {"bf16": 0.594, "fp16": 0.594, "fp8": 0.425}
# The step time is the smooth maximum (t^k + floor^k)^(1/k) of the modelled time t and the envelope's
# floor: k = 16 adds 4.4 % where the two meet and 0.6 % at t = 1.15 × floor. A choice, not a fit.
ENVELOPE_SHARPNESS = 16.0

# Which generation a catalog GPU id belongs to (prefix match).
GENERATIONS = (("v100", "volta"), ("a100", "ampere"), ("a10", "ampere"), ("a40", "ampere"),
               ("h100", "hopper"), ("h200", "hopper"), ("h800", "hopper"), ("gh200", "hopper"),
               ("b200", "blackwell"), ("b300", "blackwell"), ("gb200", "blackwell"))

# Shape factor of a GEMM, Π_d d/(d + d_half) over the dimensions that shrink with sharding:
#  * M = tokens of a micro-batch on one GPU (b·s/c). DeepGEMM (FP8, H800, N×K = 7168×16384):
#    M = 64 / 128 / 4096 give 336 / 645 / 1358 TFLOP/s; d/(d + 190) reproduces 0.25 / 0.40 / 1.0
#    of the large-M value (efficiency.toml [[gemm_shape]], deepseek-ai/DeepGEMM README). Measured.
#  * N = hidden/t, the narrowest weight dimension of a layer's GEMMs after tensor parallelism
#    (QKV and FFN are wider; attention-out and FFN-down have K = hidden/t or ffn/t). DeepGEMM's
#    K = 512 capping M = 4096 at 590 of 1358 TFLOP/s suggests d_half of several hundred;
#    fitted on the calibration families.
GEMM_M_HALF = 190.0
GEMM_N_HALF = 400.0

# FlashAttention-2 forward + backward, causal, bf16/fp16, by sequence length (512 … 16384), as a
# fraction of the 16-bit dense peak (Dao 2023, flash-attention README benchmark figures, copied in
# efficiency.toml [[attention]]): A100 80GB head_dim 128: 99, 133, 155, 173, 182, 189 TFLOP/s of
# 312; head_dim 64: 88, 119, 140, 156, 165, 171; H100 SXM head_dim 128: 163, 221, 265, 294, 308,
# 328 of 989; head_dim 64: 141, 192, 232, 257, 273, 284. Those FLOPs count the causal half of the
# score matrix, so the planner's attention FLOPs (full s×s, the MFU convention) take
# 0.5 × FLOPs / rate. Volta (no FlashAttention-2) takes the Ampere fractions, Blackwell and others
# the Hopper ones (assumption). The rate is never taken above the GEMM ceiling on full-count
# FLOPs, so ``achievable_flops`` stays an upper bound for the solver's branch and bound.
ATTENTION_SEQ = (512, 1024, 2048, 4096, 8192, 16384)
ATTENTION_TFLOPS = {
    ("ampere", 128): ((99, 133, 155, 173, 182, 189), 312.0),
    ("ampere", 64): ((88, 119, 140, 156, 165, 171), 312.0),
    ("hopper", 128): ((163, 221, 265, 294, 308, 328), 989.0),
    ("hopper", 64): ((141, 192, 232, 257, 273, 284), 989.0),
}

# Software-stack factor: measured throughput of a stack over tuned Megatron-Core/NeMo (2024) on the
# same model and hardware. 1.0 = Megatron-Core/NeMo, the default the planner plans for. Sources in
# efficiency.toml [[stack_factor]]: Paxml (JAX) 0.79/0.78 of NeMo 24.11 on GPT-3 175B FP8, H100
# (NVIDIA dgxc-benchmarking v24.11.1). No same-hardware measurement for the other stacks of the
# validation set (MaxText included), so they stay at 1.0 (an assumption the accuracy table reports
# per stack).
STACK_FACTOR = {"nemo/megatron-core": 1.0, "megatron-lm": 1.0, "paxml": 0.785}
# Megatron-family stacks before FlashAttention and Transformer Engine (2020-2022): Megatron-LM
# reached 142 and 149 TFLOP/s where the FlashAttention training scripts reached 189 on GPT-3
# 1.3B / 2.7B, 8 × A100 80GB (0.75, 0.79; smaller models 0.47-0.71; flash-attention
# assets/gpt3_training_efficiency.jpg, efficiency.toml [[stack_factor]]). 0.77 = the mean of the
# two sizes the validation rows are closest to. Applies to the rows of those years, not to plans.
PRE_FLASH_ATTENTION_FACTOR = 0.77
MEGATRON_STACKS = ("megatron-lm", "nemo/megatron-core", "megatron-deepspeed/deepspeed")

# Effective bytes of HBM traffic per layer, per token, per hidden unit (16-bit elements, forward +
# backward). Physically the memory-bound kernels (layer norms, residual adds, GeLU/SwiGLU, softmax,
# dropout: Korthikanti et al. count 34 bytes of saved activations per s·b·h per layer, each
# written once and read a few times); fitted as an effective constant it also absorbs the other
# per-element costs (kernel launches, small elementwise ops). Fitted on the calibration families.
MEMORY_BYTES_PER_LAYER_TOKEN_PER_HIDDEN = 500.0

# Share of tensor-parallel communication hidden under the GEMMs that produce or consume it, in the
# stack plans assume (Megatron-Core/NeMo 2024+ with Transformer Engine userbuffers,
# ``tp_comm_overlap=True``: the all-gather / reduce-scatter of sequence parallelism is split into
# chunks pipelined with the GEMM, NeMo PR #6362 (2023), Megatron-Bridge docs "Communication
# Overlap"; on in the dgxc/NeMo performance recipes and stated in the Megatron-Core r0.8 benchmark
# rows). Stacks without it (Megatron-LM before 2024, DeepSpeed, Meta's, torchtitan's TP) are
# predicted with 0 (planner.analysis.validation_runs.tp_comm_overlap). Until this term existed the
# model charged all TP traffic as exposed: the NeMo H100 rows came out 8 % too slow and, the fit
# compensating, layouts without TP (the solver's ZeRO-3 plans) 10-25 % too fast. Fitted on the
# calibration families.
TP_COMM_OVERLAP = 0.9

# NCCL collectives reach ~75 % of the link's unidirectional bandwidth as bus bandwidth
# (nccl-tests all_reduce_perf on DGX A100: ~230 GB/s busbw of 300 GB/s NVLink). Assumption.
LINK_EFFICIENCY = 0.75

# Share of the last micro-batch's backward pass that hides data-parallel gradient reduction
# (PyTorch DDP / Megatron bucketed overlap; Li et al. 2020, "PyTorch Distributed", §5). Assumption.
DP_OVERLAP = 0.8

# Measured over modelled throughput of the open-source fine-tuning stacks most teams run (Hugging
# Face Trainer + PyTorch FSDP/PEFT, eager attention, per-step logging, examples padded to the
# batch's longest); tokens are counted as examples × max sequence length. Fitted on one public
# run: Osmulski 2023 ("How to train an Alpaca?", radekosmulski.com) re-ran the Stanford Alpaca
# recipe on Llama 2 7B, 4 × A100 (80 GB assumed), 52K examples × 3 epochs at 512, FSDP full
# shard, micro-batch 4, 8 accumulation steps: 5 h 30 min. Held out: Alpaca itself (Taori et al.
# 2023: 8 × A100-80GB, ~3 h), checked in tests. Fitted: 0.213 (the model alone says 1.17 h; 0.264 and
# 1.45 h before issue #14 made the pre-training model faster). Not refitted after the TP-overlap refit of
# issue #14: the fit run now comes out at 5.64 h (+2.6 %, the model alone 1.20 h), inside the 5 % the
# test allows. Set 1.0 for a tuned Megatron/NeMo-class stack.
FINETUNE_STACK_EFFICIENCY = 0.213
