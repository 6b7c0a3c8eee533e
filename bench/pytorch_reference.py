#!/usr/bin/env python3
"""Yardstick for cortex-bench's gpu section: the same GEMM shapes through torch.matmul and the
same device-to-device copies, timed the same way (CUDA events, median of ~20 ms samples) on the
same card. PyTorch is only a reference here; Cortex never imports it.

    python3 bench/pytorch_reference.py [--quick] [--min-seconds S]
"""
import argparse
import statistics

import torch


def device_ms(fn, min_seconds):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    iters = max(1, min(2000, int(20.0 / max(start.elapsed_time(stop), 1e-3))))
    samples, total = [], 0.0
    while len(samples) < 5 or (total < min_seconds * 1e3 and len(samples) < 200):
        start.record()
        for _ in range(iters):
            fn()
        stop.record()
        stop.synchronize()
        ms = start.elapsed_time(stop)
        samples.append(ms / iters)
        total += ms
    return statistics.median(samples)


def gemm_table(quick, min_seconds):
    widths = [512, 2048] if quick else [512, 1536, 2048]
    rows_list = [64 * 256] if quick else [64 * 256, 64 * 1024]
    cases = [(r, n, k, "64 x 256 latents" if r == 64 * 256 else "64 x 1024 events")
             for r in rows_list for n in widths for k in widths]
    cases.append((8192, 8192, 8192, "square"))
    modes = [("bf16", torch.bfloat16, False), ("f32 (TF32)", torch.float32, True), ("f32", torch.float32, False)]
    print("| M x N x K | shape | dtype | ms | TFLOP/s |")
    print("| --- | --- | --- | --- | --- |")
    for name, dtype, tf32 in modes:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for m, n, k, note in cases:
            if name == "f32" and note != "square":
                continue
            a = torch.empty(m, k, device="cuda", dtype=dtype).uniform_(-1, 1)
            b = torch.empty(k, n, device="cuda", dtype=dtype).uniform_(-1, 1)
            ms = device_ms(lambda: torch.matmul(a, b), min_seconds)
            print(f"| {m} x {n} x {k} | {note} | {name} | {ms:.3f} | {2.0 * m * n * k / (ms * 1e-3) * 1e-12:.1f} |")
    torch.backends.cuda.matmul.allow_tf32 = False


def copy_table(quick, min_seconds):
    n = 1 << 24 if quick else 1 << 28
    side = 2048 if quick else 8192
    print("| copy | bytes moved (read + written) | ms | GB/s |")
    print("| --- | --- | --- | --- |")

    def row(name, nbytes, fn):
        ms = device_ms(fn, min_seconds)
        print(f"| {name} | {nbytes * 1e-6:.0f} MB | {ms:.3f} | {nbytes / (ms * 1e-3) * 1e-9:.0f} |")

    src = torch.empty(n, device="cuda").uniform_(-1, 1)
    dst = torch.empty_like(src)
    row("device->device f32, contiguous (copy_)", 2.0 * n * 4, lambda: dst.copy_(src))
    half = torch.empty(n, device="cuda", dtype=torch.bfloat16)
    row("device->device f32 -> bf16 (copy_)", n * 6.0, lambda: half.copy_(src))
    m = torch.empty(side, side, device="cuda").uniform_(-1, 1)
    t = torch.empty_like(m)
    row(f"device->device f32 transpose {side}^2 (copy_)", 2.0 * side * side * 4, lambda: t.copy_(m.t()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--min-seconds", type=float, default=0.5)
    args = parser.parse_args()
    print(f"Card: {torch.cuda.get_device_name()}  (PyTorch {torch.__version__})\n")
    print("### GEMM (torch.matmul)\n")
    gemm_table(args.quick, args.min_seconds)
    print("\n### Copy bandwidth (torch copy_)\n")
    copy_table(args.quick, args.min_seconds)


if __name__ == "__main__":
    main()
