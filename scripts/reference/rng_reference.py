#!/usr/bin/env python3
"""
Independent Python port of src/core/rng.ts (xoshiro128** seeded by splitmix32, 52-bit uniforms,
Box–Muller) that printed the golden values hard-coded in src/core/rng.test.ts. Written from the
algorithm descriptions (https://prng.di.unimi.it/xoshiro128starstar.c, murmur3 fmix32), with
explicit 32-bit masking instead of JS's Math.imul / >>> 0.

    /usr/bin/python3 scripts/reference/rng_reference.py
"""
import math
import struct

M32 = 0xFFFFFFFF


def fmix32(h):
    h &= M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


class Rng:
    def __init__(self, seed):
        state = seed
        s = []
        for _ in range(4):
            state = (state + 0x9E3779B9) & M32
            s.append(fmix32(state))
        self.s = s
        self.spare = None

    def next_u32(self):
        s0, s1, s2, s3 = self.s
        result = (rotl((s1 * 5) & M32, 7) * 9) & M32
        t = (s1 << 9) & M32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def uniform(self):
        hi = self.next_u32() >> 6
        lo = self.next_u32() >> 6
        return (hi * 2**26 + lo + 0.5) * 2.0**-52

    def gaussian(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        r = math.sqrt(-2.0 * math.log(self.uniform()))
        a = 2.0 * math.pi * self.uniform()
        self.spare = r * math.sin(a)
        return r * math.cos(a)


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def frame_seed(seed, frame):
    return fmix32((fmix32(seed) + ((frame * 0x9E3779B9) & M32) + 0x6A09E667) & M32)


# Self-check of the xoshiro128** core against the authors' C code (state {1, 2, 3, 4}; outputs
# obtained by compiling https://prng.di.unimi.it/xoshiro128starstar.c with that state).
r = Rng(0)
r.s = [1, 2, 3, 4]
assert [r.next_u32() for _ in range(6)] == [11520, 0, 5927040, 70819200, 2031721883, 1637235492]

r = Rng(42)
print("seed 42 uniforms:", [r.uniform() for _ in range(4)])
r = Rng(42)
print("seed 42 gaussians (float32):", [f32(r.gaussian()) for _ in range(8)])
r = Rng(0)
print("seed 0 gaussians (float32):", [f32(r.gaussian()) for _ in range(4)])
r = Rng(0xFFFFFFFF)
print("seed 4294967295 gaussians (float32):", [f32(r.gaussian()) for _ in range(4)])
print("frame seed (42, 3):", frame_seed(42, 3))
r = Rng(frame_seed(42, 3))
print("frameNoise(42, 3, 6):", [f32(r.gaussian()) for _ in range(6)])
