#!/usr/bin/env python3
"""
Independent reference numbers for src/core/scheduler.ts (DDIM as in HuggingFace diffusers'
DDIMScheduler), computed with plain numpy in float64 straight from the published formulas:

  * betas: DDPM (Ho et al. 2020) linear schedule; Stable Diffusion's "scaled_linear"
    (linear in sqrt(beta), squared).
  * alphas_cumprod: abar_t = prod_{s<=t} (1 - beta_s)  (Ho et al. 2020, eq. 4).
  * zero-terminal-SNR rescale: Lin et al. 2023, "Common Diffusion Noise Schedules and Sample
    Steps are Flawed", Algorithm 1.
  * timestep spacing: "leading" / "trailing" as in Lin et al. 2023, Table 2 (and diffusers).
  * DDIM update: Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12 and eq. 16,
    with v-prediction from Salimans & Ho 2022 ("Progressive Distillation"), section 4.

No diffusers / torch: this script shares no code with the TypeScript implementation. Run it with
    /usr/bin/python3 scripts/reference/ddim_reference.py
and copy the printed numbers into src/core/scheduler.test.ts (they are hard-coded there).
"""
import numpy as np

np.set_printoptions(precision=17)


def betas_for(schedule, start, end, T):
    if schedule == "linear":
        return np.linspace(start, end, T, dtype=np.float64)
    if schedule == "scaled_linear":
        return np.linspace(start**0.5, end**0.5, T, dtype=np.float64) ** 2
    raise ValueError(schedule)


def rescale_zero_terminal_snr(betas):
    """Lin et al. 2023, Algorithm 1."""
    alphas = 1.0 - betas
    alphas_bar = np.cumprod(alphas)
    alphas_bar_sqrt = np.sqrt(alphas_bar)
    a0 = alphas_bar_sqrt[0]
    aT = alphas_bar_sqrt[-1]
    alphas_bar_sqrt = alphas_bar_sqrt - aT  # shift so the last is zero
    alphas_bar_sqrt = alphas_bar_sqrt * (a0 / (a0 - aT))  # scale so the first is unchanged
    alphas_bar = alphas_bar_sqrt**2
    alphas = np.concatenate([alphas_bar[0:1], alphas_bar[1:] / alphas_bar[:-1]])
    return 1.0 - alphas


def timesteps_for(spacing, T, steps, offset=0):
    if spacing == "leading":
        ratio = T // steps
        return (np.arange(0, steps) * ratio).round()[::-1].astype(np.int64) + offset
    if spacing == "trailing":
        ratio = T / steps
        ts = np.round(np.arange(T, 0, -ratio)).astype(np.int64) - 1
        return ts[:steps]  # numpy's arange can return one extra element (~0 -> -1); the TS drops it
    raise ValueError(spacing)


def ddim_step(abar, final_abar, T, steps, t, model_output, x, prediction, eta, z=None):
    """Song et al. eq. 12 for one step t -> t - T//steps."""
    prev = t - T // steps
    a_t = abar[t]
    a_prev = abar[prev] if prev >= 0 else final_abar
    if prediction == "epsilon":
        eps = model_output
        x0 = (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
    else:  # v = sqrt(abar) eps - sqrt(1-abar) x0  (Salimans & Ho 2022)
        v = model_output
        x0 = np.sqrt(a_t) * x - np.sqrt(1 - a_t) * v
        eps = np.sqrt(a_t) * v + np.sqrt(1 - a_t) * x
    sigma = eta * np.sqrt((1 - a_prev) / (1 - a_t)) * np.sqrt(1 - a_t / a_prev)  # eq. 16
    direction = np.sqrt(max(0.0, 1 - a_prev - sigma**2)) * eps
    x_prev = np.sqrt(a_prev) * x0 + direction
    if eta > 0:
        x_prev = x_prev + sigma * z
    return x_prev.astype(np.float32), x0.astype(np.float32), prev, a_t, a_prev, sigma


def fmt(a):
    return "[" + ", ".join(repr(float(v)) for v in a) + "]"


T = 1000
IDX = [0, 1, 499, 998, 999]
print("# betas / alphas_cumprod at indices", IDX)
schedules = {}
for name, sched, b0, b1 in [
    ("linear_ddpm", "linear", 0.0001, 0.02),
    ("scaled_linear_sd", "scaled_linear", 0.00085, 0.012),
]:
    for rescale in (False, True):
        betas = betas_for(sched, b0, b1, T)
        if rescale:
            betas = rescale_zero_terminal_snr(betas)
        abar = np.cumprod(1.0 - betas)
        key = f"{name}{'_rescaled' if rescale else ''}"
        schedules[key] = abar
        print(f"{key}.betas =", fmt(betas[IDX]))
        print(f"{key}.alphasCumprod =", fmt(abar[IDX]))
print("SD scaled_linear abar_999 =", repr(float(schedules["scaled_linear_sd"][999])))

print("\n# timesteps")
for spacing, steps, offset in [
    ("leading", 10, 0),
    ("leading", 10, 1),
    ("leading", 50, 0),
    ("leading", 50, 1),
    ("trailing", 10, 0),
    ("trailing", 50, 0),
    ("trailing", 16, 0),  # exact .5 ties: numpy rounds half to even
    ("trailing", 3, 0),
    ("trailing", 61, 0),  # numpy's arange yields 62 values here
]:
    print(f"{spacing} steps={steps} offset={offset}:", list(int(v) for v in timesteps_for(spacing, T, steps, offset)))

print("\n# DDIM updates (float32 inputs, float64 maths, float32 outputs)")
x = np.array([-1.5, -0.25, 0.0, 0.5, 1.25, 2.0, 0.375, -0.875], dtype=np.float32).astype(np.float64)
m = np.array([0.75, -1.125, 0.25, 0.0, -0.5, 1.5, -2.0, 0.625], dtype=np.float32).astype(np.float64)
z = np.array([0.5, 1.0, -1.5, 0.25, -0.75, 0.125, 2.0, -1.0], dtype=np.float32).astype(np.float64)
print("sample =", fmt(x))
print("modelOutput =", fmt(m))
print("noise =", fmt(z))

cases = [
    # label, schedule key, prediction, spacing, steps, offset, set_alpha_to_one, step index, eta
    ("sd eps leading50+1 i0", "scaled_linear_sd", "epsilon", "leading", 50, 1, True, 0, 0.0),
    ("sd eps leading50+1 i25", "scaled_linear_sd", "epsilon", "leading", 50, 1, True, 25, 0.0),
    ("sd eps leading50+1 i25 eta.5", "scaled_linear_sd", "epsilon", "leading", 50, 1, True, 25, 0.5),
    ("sd eps leading50+1 i49 (final, alpha one)", "scaled_linear_sd", "epsilon", "leading", 50, 1, True, 49, 0.0),
    ("sd eps leading50+1 i49 (final, abar0)", "scaled_linear_sd", "epsilon", "leading", 50, 1, False, 49, 0.0),
    ("zsnr v trailing10 i0 (abar=0)", "scaled_linear_sd_rescaled", "v_prediction", "trailing", 10, 0, True, 0, 0.0),
    ("zsnr v trailing10 i0 eta.5", "scaled_linear_sd_rescaled", "v_prediction", "trailing", 10, 0, True, 0, 0.5),
    ("zsnr v trailing10 i4 eta.5", "scaled_linear_sd_rescaled", "v_prediction", "trailing", 10, 0, True, 4, 0.5),
    ("linear v trailing10 i9 eta.5 (final)", "linear_ddpm", "v_prediction", "trailing", 10, 0, False, 9, 0.5),
]
for label, key, pred, spacing, steps, offset, one, i, eta in cases:
    abar = schedules[key]
    final = 1.0 if one else abar[0]
    t = int(timesteps_for(spacing, T, steps, offset)[i])
    xp, x0, prev, a_t, a_prev, sigma = ddim_step(abar, final, T, steps, t, m, x, pred, eta, z)
    print(f"## {label}: t={t} prev={prev} abar_t={a_t!r} abar_prev={a_prev!r} sigma={sigma!r}")
    print("   prevSample =", fmt(xp))
    print("   predOriginal =", fmt(x0))
