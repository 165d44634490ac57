#!/usr/bin/env python3
"""Reference for `kiln synth`'s weights (src/model/weight_rng.h), in plain Python.

Prints the first values of a tensor as kiln synth writes them, or checks a whole synth output
directory against this definition (needs numpy and the safetensors files; bf16 read by hand):

  tools/synth_rng_reference.py --seed 0 --name model.norm.weight --count 4 [--mean 1.0] [--std 0.02]
  tools/synth_rng_reference.py --check DIR --seed 0 [--std 0.02]

Definition (all integer arithmetic modulo 2**64):
  key = mix64(fnv1a64(name) ^ mix64(seed))
  pair j: r = mix64(key + (j + 1) * 0x9e3779b97f4a7c15)
          u1 = ((r >> 32) + 1) / 2**32, u2 = (r & 0xffffffff) / 2**32
          z[2j] = sqrt(-2 log u1) cos(2 pi u2), z[2j+1] = sqrt(-2 log u1) sin(2 pi u2)
  value = float32(mean + std * z)  then bf16/f16 round-to-nearest-even.
  mean is 1.0 for tensors named *norm.weight (RMSNorm weights), else 0.0.
"""
import argparse
import json
import math
import os
import struct
import sys

MASK = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def stream_key(seed, name):
    return mix64(fnv1a64(name.encode("utf-8")) ^ mix64(seed & MASK))


def normals(key, count):
    out = []
    j = 0
    while len(out) < count:
        r = mix64((key + (j + 1) * 0x9E3779B97F4A7C15) & MASK)
        u1 = ((r >> 32) + 1) * 2.0**-32
        u2 = (r & 0xFFFFFFFF) * 2.0**-32
        rho = math.sqrt(-2.0 * math.log(u1))
        theta = 6.283185307179586 * u2
        out.append(rho * math.cos(theta))
        out.append(rho * math.sin(theta))
        j += 1
    return out[:count]


def to_f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def bf16_bits(x):
    bits = f32_bits(x)
    if (bits & 0x7FFFFFFF) > 0x7F800000:
        return (bits >> 16) | 0x40
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def values(seed, name, count, mean, std):
    return [to_f32(mean + std * z) for z in normals(stream_key(seed, name), count)]


def check_dir(directory, seed, std):
    import numpy as np  # only for --check

    files = [f for f in sorted(os.listdir(directory)) if f.endswith(".safetensors")]
    for file in files:
        with open(os.path.join(directory, file), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            data = f.read()
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            count = int(np.prod(info["shape"]))
            sample = min(count, 4096)
            mean = 1.0 if name.endswith("norm.weight") else 0.0
            want = np.array(values(seed, name, sample, mean, std), dtype=np.float32)
            raw = data[begin:end]
            if info["dtype"] == "F32":
                got = np.frombuffer(raw, dtype=np.float32)[:sample]
                ok = np.array_equal(got.view(np.uint32), want.view(np.uint32))
            elif info["dtype"] == "F16":
                got = np.frombuffer(raw, dtype=np.float16)[:sample]
                ok = np.array_equal(got.view(np.uint16), want.astype(np.float16).view(np.uint16))
            else:
                got = np.frombuffer(raw, dtype=np.uint16)[:sample]
                ok = list(got) == [bf16_bits(float(v)) for v in want]
            print(f"{file}: {name}: {'ok' if ok else 'MISMATCH'}")
            if not ok:
                sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="model.embed_tokens.weight")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--mean", type=float, default=0.0)
    parser.add_argument("--std", type=float, default=0.02)
    parser.add_argument("--check", metavar="DIR")
    args = parser.parse_args()
    if args.check:
        check_dir(args.check, args.seed, args.std)
        return
    for v in values(args.seed, args.name, args.count, args.mean, args.std):
        print(f"{v!r} 0x{f32_bits(v):08x} bf16=0x{bf16_bits(v):04x}")


if __name__ == "__main__":
    main()
