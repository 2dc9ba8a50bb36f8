#!/usr/bin/env python3
"""
Independent reference trajectories for the studio's diffusion samplers, computed with plain numpy
in float64 straight from the published formulas. It shares no code with the TypeScript side
(src/); both sides implement the same deterministic toy protocol (see PROTOCOL below) so that
whole sampling runs can be compared number for number.

Families and sources:

  * "edm" -- Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative
    Models" (EDM):
      - Karras sigma schedule, eq. 5:
            sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho,  sigma_N = 0.
      - preconditioning, Table 1: D(x) = c_skip x + c_out F(c_in x; c_noise), with
            edm:          c_skip = d^2/(s^2+d^2), c_out = s d/sqrt(s^2+d^2), c_in = 1/sqrt(s^2+d^2),
                          c_noise = ln(s)/4 (d = sigma_data);
            epsilon (VP): c_skip = 1, c_out = -s, c_in = 1/sqrt(s^2+1);
            v_prediction: c_skip = 1/(s^2+1), c_out = -s/sqrt(s^2+1), c_in = 1/sqrt(s^2+1)
                          (Salimans & Ho 2022, "Progressive Distillation", sec. 4, in the sigma
                          parameterisation; the scaling Stable Video Diffusion uses).
      - euler: Algorithm 2 without churn (S_churn = 0): x' = x + (sigma_{i+1} - sigma_i) d,
        d = (x - D)/sigma_i.
      - euler_ancestral: k-diffusion's sample_euler_ancestral / get_ancestral_step (Crowson):
            sigma_up = min(sigma', eta sqrt(sigma'^2 (sigma^2 - sigma'^2)/sigma^2)),
            sigma_down = sqrt(sigma'^2 - sigma_up^2),
            x' = x + (sigma_down - sigma) d + sigma_up z.
      - dpmpp_2m: Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
        Probabilistic Models", Algorithm 2 (multistep second order, data prediction), written with
        lambda = -ln sigma as in k-diffusion's sample_dpmpp_2m:
            h = lambda_{i+1} - lambda_i, r = h_{i-1}/h,
            D' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1},
            x' = (sigma_{i+1}/sigma_i) x - expm1(-h) D'   (first order at i = 0 and at sigma' = 0).
      - training sigmas for the "discrete" timestep input: DDPM (Ho et al. 2020) betas
        ("linear", or Stable Diffusion's "scaled_linear": linear in sqrt(beta), squared),
        abar_t = prod_{s<=t} (1 - beta_s) (Ho et al. eq. 4), sigma_t = sqrt((1 - abar_t)/abar_t)
        (Karras et al. eq. 4 / Appendix C.2, VP <-> VE).
  * "lcm" -- Luo et al. 2023, "Latent Consistency Models" (Algorithm 1, multistep consistency
    sampling; eq. 9 boundary condition with sigma_data = 0.5), with the timestep schedule and the
    scaled-timestep boundary condition of HuggingFace diffusers' LCMScheduler.
  * "flow" -- rectified flow / flow matching (Liu et al. 2022, "Flow Straight and Fast"; Lipman
    et al. 2022, "Flow Matching for Generative Modeling") sampled with Euler on
    x_t = (1 - t) x_0 + t noise, velocity v = noise - x_0, and the timestep shift of Esser et al.
    2024 ("Scaling Rectified Flow Transformers", SD3), eq. 23:
        t' = shift t / (1 + (shift - 1) t),
    as in Wan 2.1's get_sampling_sigmas.

Float32 rounding points mimic the studio (ONNX outputs and stored latents are float32): the model
output is rounded to float32 before use, and the sample after initialisation and after every step.

Usage (from the repository root):
    /usr/bin/python3 scripts/reference/samplers_reference.py          # (re)writes the fixture
    /usr/bin/python3 scripts/reference/samplers_reference.py --check  # exit 1 if it is stale
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

N = 16
GENERATOR = "scripts/reference/samplers_reference.py"
OUT_PATH = Path(__file__).resolve().parents[2] / "src" / "core" / "fixtures" / "samplers-reference.json"
PROTOCOL = (
    "n=16; noise(k,i)=1.3*sin(1.7*(i+1)+0.37*k*(k+1)) (k=0 initial, k=s+1 in step s); "
    "model(v,t)[i]=0.5*v[i]+0.2*cos(0.3*(i+1)+0.01*t); x=f32(initScale*noise(0)); "
    "for s: out=f32(model(inputScales[s]*x, modelTimesteps[s])); "
    "x=f32(update(s,out,x,noise(s+1))); "
    "f32 = round to float32, everything else float64"
)


# ---------------------------------------------------------------------------------------------
# The deterministic protocol


def f32(a):
    """Round to float32 (round to nearest even, as Math.fround) and widen back to float64."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


# sin, cos and log go through Python's math module (the C library, scalar) rather than numpy's
# vectorised kernels, whose last bits can vary with the numpy build and CPU: --check must give the
# same bytes everywhere.


def noise(k):
    return 1.3 * np.array([math.sin(1.7 * (i + 1) + 0.37 * k * (k + 1)) for i in range(N)])


def model(v, t):
    return 0.5 * v + 0.2 * np.array([math.cos(0.3 * (i + 1) + 0.01 * t) for i in range(N)])


def run(plan, update):
    """Runs the protocol; returns the trajectory (sample after init and after each step)."""
    x = f32(plan["initScale"] * noise(0))
    trajectory = [x]
    for s in range(plan["steps"]):
        out = f32(model(plan["inputScales"][s] * x, plan["modelTimesteps"][s]))
        x = f32(update(s, out, x, noise(s + 1)))
        trajectory.append(x)
    return trajectory


# ---------------------------------------------------------------------------------------------
# Training schedule (DDPM betas, cumulative alphas, VE sigmas)


def betas_for(schedule, start, end, T):
    if schedule == "linear":
        return np.linspace(start, end, T, dtype=np.float64)
    if schedule == "scaled_linear":
        return np.linspace(start**0.5, end**0.5, T, dtype=np.float64) ** 2
    raise ValueError(schedule)


def alphas_cumprod(sched):
    betas = betas_for(sched["betaSchedule"], sched["betaStart"], sched["betaEnd"], sched["trainTimesteps"])
    return np.cumprod(1.0 - betas)


def training_sigmas(sched):
    abar = alphas_cumprod(sched)
    return np.sqrt((1.0 - abar) / abar)


# ---------------------------------------------------------------------------------------------
# A. EDM family (Karras et al. 2022)


def karras_sigmas(sigma_min, sigma_max, rho, steps):
    """Karras eq. 5, with sigma_N = 0 appended (N + 1 values)."""
    if steps == 1:
        return np.array([sigma_max, 0.0])
    lo = sigma_min ** (1.0 / rho)
    hi = sigma_max ** (1.0 / rho)
    sig = [(hi + i / (steps - 1) * (lo - hi)) ** rho for i in range(steps)]
    return np.array(sig + [0.0])


def edm_sigma_range(sched):
    if "sigmaMin" in sched:
        return sched["sigmaMin"], sched["sigmaMax"]
    train = training_sigmas(sched)
    return float(train[0]), float(train[-1])


def edm_precondition(sched, s):
    """Karras Table 1: (c_skip, c_out, c_in) at sigma s."""
    pred = sched["prediction"]
    if pred == "epsilon":
        return 1.0, -s, 1.0 / math.sqrt(s * s + 1.0)
    if pred == "v_prediction":
        return 1.0 / (s * s + 1.0), -s / math.sqrt(s * s + 1.0), 1.0 / math.sqrt(s * s + 1.0)
    if pred == "edm":
        d = sched["sigmaData"]
        return (
            d * d / (s * s + d * d),
            s * d / math.sqrt(s * s + d * d),
            1.0 / math.sqrt(s * s + d * d),
        )
    raise ValueError(pred)


def discrete_timestep(sched, sigma):
    """Fractional training timestep where the piecewise-linear ln(sigma_train(t)) equals ln(sigma),
    clamped to [0, T-1] (np.interp clamps at the ends)."""
    log_train = np.array([math.log(s) for s in training_sigmas(sched)])
    return float(np.interp(math.log(sigma), log_train, np.arange(len(log_train), dtype=np.float64)))


def edm_timestep_input(sched, sigma):
    kind = sched["timestepInput"]
    if kind == "log_sigma":
        return 0.25 * math.log(sigma)  # EDM's c_noise
    if kind == "sigma":
        return sigma
    if kind == "discrete":
        return discrete_timestep(sched, sigma)
    raise ValueError(kind)


def edm_plan(sched, steps):
    sigma_min, sigma_max = edm_sigma_range(sched)
    sigmas = karras_sigmas(sigma_min, sigma_max, sched["rho"], steps)
    s0 = float(sigmas[0])
    init = {"sigma": s0, "sigma_vp": math.sqrt(s0 * s0 + 1.0)}[sched["initNoise"]]
    return {
        "steps": steps,
        "sigmas": [float(v) for v in sigmas],
        "modelTimesteps": [edm_timestep_input(sched, float(v)) for v in sigmas[:steps]],
        "inputScales": [edm_precondition(sched, float(v))[2] for v in sigmas[:steps]],
        "initScale": init,
    }


def edm_denoised(sched, sigma, out, x):
    c_skip, c_out, _ = edm_precondition(sched, sigma)
    return c_skip * x + c_out * out


def edm_updater(sched, plan):
    sigmas = plan["sigmas"]
    sampler = sched["sampler"]
    eta = sched["eta"]
    state = {"D_prev": None}

    def update(i, out, x, z):
        s, s_next = sigmas[i], sigmas[i + 1]
        D = edm_denoised(sched, s, out, x)
        d = (x - D) / s
        if sampler == "euler":
            return x + (s_next - s) * d
        if sampler == "euler_ancestral":
            sigma_up = min(s_next, eta * math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2))
            sigma_down = math.sqrt(s_next**2 - sigma_up**2)
            x_next = x + (sigma_down - s) * d
            if s_next > 0:
                x_next = x_next + sigma_up * z
            return x_next
        if sampler == "dpmpp_2m":
            D_prev = state["D_prev"]
            state["D_prev"] = D
            if s_next == 0:
                return D
            t, t_next = -math.log(s), -math.log(s_next)
            h = t_next - t
            if i == 0:
                return (s_next / s) * x - math.expm1(-h) * D
            h_last = t - (-math.log(sigmas[i - 1]))
            r = h_last / h
            D_mix = (1 + 1 / (2 * r)) * D - (1 / (2 * r)) * D_prev
            return (s_next / s) * x - math.expm1(-h) * D_mix
        raise ValueError(sampler)

    return update


# ---------------------------------------------------------------------------------------------
# B. Latent Consistency Models (Luo et al. 2023; diffusers' LCMScheduler)


def lcm_timesteps(sched, steps):
    k = sched["trainTimesteps"] // sched["originalSteps"]
    origin = np.array([(j + 1) * k - 1 for j in range(sched["originalSteps"])])[::-1]
    indices = np.floor(np.linspace(0, sched["originalSteps"], steps, endpoint=False)).astype(np.int64)
    return [int(v) for v in origin[indices]]


def lcm_plan(sched, steps):
    ts = lcm_timesteps(sched, steps)
    return {
        "steps": steps,
        "timesteps": ts,
        "modelTimesteps": [float(t) for t in ts],
        "inputScales": [1.0] * steps,
        "initScale": 1.0,
    }


def lcm_denoised(sched, abar, t, out, x):
    a = abar[t]
    if sched["predictionType"] == "epsilon":
        x0 = (x - math.sqrt(1 - a) * out) / math.sqrt(a)
    elif sched["predictionType"] == "v_prediction":
        x0 = math.sqrt(a) * x - math.sqrt(1 - a) * out
    else:
        raise ValueError(sched["predictionType"])
    u = t * sched["timestepScaling"]
    d = 0.5
    c_skip = d * d / (u * u + d * d)
    c_out = u / math.sqrt(u * u + d * d)
    return c_out * x0 + c_skip * x


def lcm_updater(sched, plan):
    abar = alphas_cumprod(sched)
    ts = plan["timesteps"]

    def update(i, out, x, z):
        denoised = lcm_denoised(sched, abar, ts[i], out, x)
        if i == len(ts) - 1:
            return denoised
        a_prev = abar[ts[i + 1]]
        return math.sqrt(a_prev) * denoised + math.sqrt(1 - a_prev) * z

    return update


# ---------------------------------------------------------------------------------------------
# C. Rectified flow, Euler (Esser et al. 2024 eq. 23 shift; Wan 2.1)


def linear_quadratic(steps, threshold):
    # LTX-Video's condition pipeline (linear_quadratic_schedule): noise level 1 - sigma rises
    # linearly to `threshold` over the first steps // 2 steps, then along the quadratic through
    # that point with the same slope that reaches 1 at step `steps`.
    if steps < 2:
        return np.array([1.0])
    n_lin = steps // 2
    n_quad = steps - n_lin
    noise_level = [i * threshold / n_lin for i in range(n_lin)]
    diff = n_lin - threshold * steps
    qa = diff / (n_lin * n_quad**2)
    qb = threshold / n_lin - 2 * diff / n_quad**2
    qc = qa * n_lin**2
    noise_level += [qa * i * i + qb * i + qc for i in range(n_lin, steps)]
    return 1.0 - np.array(noise_level)


def flow_sigmas(shift, steps, schedule="linear", threshold=0.025):
    if schedule == "linear_quadratic":
        sig = linear_quadratic(steps, threshold)
    else:
        sig = np.linspace(1.0, 0.0, steps + 1)[:steps]
    # A shift below 1 can round sigma 1 up by an ulp (Wan stores float32 and gets 1 back): hold it at 1.
    sig = np.minimum(1.0, shift * sig / (1 + (shift - 1) * sig))
    return np.append(sig, 0.0)


def flow_plan(sched, steps):
    sigmas = flow_sigmas(sched["shift"], steps, sched.get("schedule", "linear"), sched.get("thresholdNoise", 0.025))
    return {
        "steps": steps,
        "sigmas": [float(v) for v in sigmas],
        "modelTimesteps": [float(v) * sched["trainTimesteps"] for v in sigmas[:steps]],
        "inputScales": [1.0] * steps,
        "initScale": 1.0,
    }


def flow_updater(sched, plan):
    sigmas = plan["sigmas"]

    def update(i, out, x, z):
        return x + (sigmas[i + 1] - sigmas[i]) * out

    return update


def flow_unipc_plan(sched, steps):
    # Wan 2.1's FlowUniPCMultistepScheduler grid: the training sigmas run from 1 - 1/T down to 0, the
    # N steps are spaced linearly between those ends (the last end dropped), shifted, then 0 appended;
    # the model gets the timesteps cast to integers (int64 in Wan).
    T = sched["trainTimesteps"]
    shift = sched["shift"]
    # sigma_max is a float32 in Wan (self.sigmas[0].item() of a float32 tensor): 0.9990000128746033.
    sig = np.linspace(float(np.float32(1.0 - 1.0 / T)), 0.0, steps + 1)[:-1]
    sig = np.minimum(1.0, shift * sig / (1 + (shift - 1) * sig))
    sigmas = np.append(sig, 0.0)
    return {
        "steps": steps,
        "sigmas": [float(v) for v in sigmas],
        "modelTimesteps": [float(math.floor(float(v) * T)) for v in sig],
        "inputScales": [1.0] * steps,
        "initScale": 1.0,
    }


def flow_lambda(s):
    # lambda = log(alpha / sigma) on the flow path (alpha = 1 - sigma): -inf at sigma 1, +inf at 0.
    with np.errstate(divide="ignore"):
        return float(np.log(1.0 - s) - np.log(s))


def unipc_coefficients(hh, order):
    # UniPC's B(h) variant 2 (Zhao et al. 2023, alg. of UniPC-p): B = e^hh - 1, and the right-hand side
    # b_k = k! * phi_{k+1}(hh) * hh / B built by the recursion phi_{k+1} = (phi_k - 1/k!) / hh.
    B = math.expm1(hh)
    phi = math.expm1(hh) / hh - 1.0
    fact = 1
    b = []
    for k in range(1, order + 1):
        b.append(phi * fact / B)
        fact *= k + 1
        phi = phi / hh - 1.0 / fact
    return B, np.array(b)


def flow_unipc_updater(sched, plan):
    # Multistep UniPC-2 with the UniC corrector (solver_order 2, bh2, predict_x0, lower_order_final),
    # on data predictions m = x - sigma * v. State: the data predictions so far, the corrected samples.
    sig = plan["sigmas"]
    N = plan["steps"]

    ms, corrected, orders = [], [], []

    def update(i, out, x, z):
        m = x.astype(np.float64) - sig[i] * out.astype(np.float64)
        x = x.astype(np.float64)
        if i > 0:
            # UniC from the previous corrected sample, order = the last predictor's.
            p = orders[-1]
            h = flow_lambda(sig[i]) - flow_lambda(sig[i - 1])
            hh = -h
            B, b = unipc_coefficients(hh, p)
            rks, D1s = [], []
            for k in range(1, p):
                rk = (flow_lambda(sig[i - 1 - k]) - flow_lambda(sig[i - 1])) / h
                rks.append(rk)
                D1s.append((ms[-(k + 1)] - ms[-1]) / rk)
            rks.append(1.0)
            R = np.array([np.power(np.array(rks), j) for j in range(p)])
            rhos = np.array([0.5]) if p == 1 else np.linalg.solve(R, b)
            res = sum(rhos[k] * D1s[k] for k in range(len(D1s))) + rhos[-1] * (m - ms[-1])
            alpha = 1.0 - sig[i]
            x = sig[i] / sig[i - 1] * corrected[-1] - alpha * B * ms[-1] - alpha * B * res
        order = min(2, N - i, len(ms) + 1)
        ms.append(m)
        corrected.append(x)
        orders.append(order)
        h = flow_lambda(sig[i + 1]) - flow_lambda(sig[i])
        B, _ = unipc_coefficients(-h, order)
        alpha = 1.0 - sig[i + 1]
        nxt = sig[i + 1] / sig[i] * x - alpha * B * m
        if order == 2:
            rk = (flow_lambda(sig[i - 1]) - flow_lambda(sig[i])) / h
            nxt = nxt - alpha * B * 0.5 * (ms[-2] - m) / rk
        return nxt

    return update


def flow_dpmpp_plan(sched, steps):
    # Wan 2.1's sample_solver "dpm++": the flow Euler grid (get_sampling_sigmas), integer timesteps.
    plan = flow_plan(sched, steps)
    T = sched["trainTimesteps"]
    plan["modelTimesteps"] = [float(math.floor(v * T)) for v in plan["sigmas"][:steps]]
    return plan


def flow_dpmpp_updater(sched, plan):
    # DPM-Solver++ multistep, order 2, "midpoint", data prediction on flow (alpha = 1 - sigma): the
    # first-order update at the first step and at the last (lower_order_final / final sigma zero),
    # the second-order multistep update between.
    sig = plan["sigmas"]
    N = plan["steps"]
    outs = []

    def update(i, out, x, z):
        x = x.astype(np.float64)
        outs.append(x - sig[i] * out.astype(np.float64))
        s_t, s_0 = sig[i + 1], sig[i]
        a_t = 1.0 - s_t
        h = flow_lambda(s_t) - flow_lambda(s_0)
        if i == 0 or i == N - 1:
            return (s_t / s_0) * x - (a_t * (np.exp(-h) - 1.0)) * outs[-1]
        m0, m1 = outs[-1], outs[-2]
        h_0 = flow_lambda(s_0) - flow_lambda(sig[i - 1])
        r0 = h_0 / h
        D0, D1 = m0, (1.0 / r0) * (m0 - m1)
        return (s_t / s_0) * x - (a_t * (np.exp(-h) - 1.0)) * D0 - 0.5 * (a_t * (np.exp(-h) - 1.0)) * D1

    return update


# ---------------------------------------------------------------------------------------------
# Cases


def svd_like(sampler, steps, eta=0.0):
    return {
        "type": "edm",
        "sampler": sampler,
        "prediction": "v_prediction",
        "sigmaData": 0.5,
        "rho": 7.0,
        "timestepInput": "log_sigma",
        "initNoise": "sigma_vp",
        "defaultSteps": steps,
        "eta": eta,
        "sigmaMin": 0.002,
        "sigmaMax": 700.0,
    }


def edm_proper(sampler, steps, eta=0.0):
    return {
        "type": "edm",
        "sampler": sampler,
        "prediction": "edm",
        "sigmaData": 0.5,
        "rho": 7.0,
        "timestepInput": "log_sigma",
        "initNoise": "sigma",
        "defaultSteps": steps,
        "eta": eta,
        "sigmaMin": 0.002,
        "sigmaMax": 80.0,
    }


def sd_discrete(sampler, steps, eta=0.0, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012):
    return {
        "type": "edm",
        "sampler": sampler,
        "prediction": "epsilon",
        "sigmaData": 0.5,
        "rho": 7.0,
        "timestepInput": "discrete",
        "initNoise": "sigma",
        "defaultSteps": steps,
        "eta": eta,
        "trainTimesteps": 1000,
        "betaSchedule": beta_schedule,
        "betaStart": beta_start,
        "betaEnd": beta_end,
    }


def lcm_sched(prediction, steps):
    return {
        "type": "lcm",
        "trainTimesteps": 1000,
        "betaSchedule": "scaled_linear",
        "betaStart": 0.00085,
        "betaEnd": 0.012,
        "predictionType": prediction,
        "originalSteps": 50,
        "timestepScaling": 10.0,
        "defaultSteps": steps,
    }


def flow_sched(shift, steps):
    return {"type": "flow", "trainTimesteps": 1000, "shift": shift, "defaultSteps": steps}


def case_specs():
    specs = []
    # A. edm: SVD-like (v-prediction, log-sigma input, VP-style init), each sampler.
    for steps in (1, 4, 25):
        specs.append((f"svd euler {steps}", svd_like("euler", steps)))
    for steps in (1, 4, 25):
        specs.append((f"svd euler_ancestral eta1 {steps}", svd_like("euler_ancestral", steps, 1.0)))
    specs.append(("svd euler_ancestral eta0.5 10", svd_like("euler_ancestral", 10, 0.5)))
    for steps in (1, 2, 10, 25):
        specs.append((f"svd dpmpp_2m {steps}", svd_like("dpmpp_2m", steps)))
    # EDM proper (F_theta preconditioning, sigma_data 0.5).
    specs.append(("edm euler 10", edm_proper("euler", 10)))
    specs.append(("edm dpmpp_2m 18", edm_proper("dpmpp_2m", 18)))
    specs.append(("edm euler_ancestral eta1 6", edm_proper("euler_ancestral", 6, 1.0)))
    # SD-like: epsilon, sigmas from the scaled_linear training schedule, discrete timestep input.
    specs.append(("sd discrete dpmpp_2m 10", sd_discrete("dpmpp_2m", 10)))
    specs.append(("sd discrete dpmpp_2m 20", sd_discrete("dpmpp_2m", 20)))
    specs.append(("sd discrete euler 8", sd_discrete("euler", 8)))
    specs.append(("sd discrete euler_ancestral eta1 12", sd_discrete("euler_ancestral", 12, 1.0)))
    specs.append(("ddpm linear discrete euler 6", sd_discrete("euler", 6, 0.0, "linear", 0.0001, 0.02)))
    # Raw sigma as the timestep input (epsilon, SD's sigma range, VP-style init).
    sigma_input = svd_like("dpmpp_2m", 6)
    sigma_input.update({"prediction": "epsilon", "timestepInput": "sigma", "sigmaMin": 0.0292, "sigmaMax": 14.6146})
    specs.append(("sigma-input epsilon dpmpp_2m 6", sigma_input))
    sigma_input_v = svd_like("euler_ancestral", 5, 1.0)
    sigma_input_v["timestepInput"] = "sigma"
    specs.append(("svd sigma-input euler_ancestral eta1 5", sigma_input_v))
    # B. lcm
    for steps in (1, 2, 4, 6, 8):
        specs.append((f"lcm epsilon {steps}", lcm_sched("epsilon", steps)))
    specs.append(("lcm v_prediction 4", lcm_sched("v_prediction", 4)))
    # C. flow
    for shift, steps in (
        (1.0, 1),
        (1.0, 4),
        (3.0, 5),
        (5.0, 1),
        (5.0, 10),
        (8.0, 4),
        (3.0, 30),
        (8.0, 30),
    ):
        specs.append((f"flow shift{shift:g} {steps}", flow_sched(shift, steps)))
    # Wan 2.1's default solver, UniPC, with Wan's shifts.
    # (shift 1, 9 steps: integer timesteps where a grid computed another way rounds to one less.)
    for shift, steps in ((1.0, 1), (1.0, 2), (3.0, 3), (5.0, 6), (5.0, 25), (16.0, 40), (1.0, 9)):
        sched = flow_sched(shift, steps)
        sched["sampler"] = "flow_unipc"
        specs.append((f"flow unipc shift{shift:g} {steps}", sched))
    # Wan 2.1's other solver, DPM-Solver++(2M).
    # (shift 5 / 6 steps and shift 1 / 5 steps: integer timesteps a grid computed another way would
    # get wrong by one; shift 0.1: sigma 1 rounds up by an ulp unless held.)
    for shift, steps in ((1.0, 1), (3.0, 2), (5.0, 5), (5.0, 20), (8.0, 50), (5.0, 6), (1.0, 5), (0.1, 4)):
        sched = flow_sched(shift, steps)
        sched["sampler"] = "flow_dpmpp_2m"
        specs.append((f"flow dpmpp_2m shift{shift:g} {steps}", sched))
    # LTX-Video's linear-quadratic grid, unshifted and shifted, with its default threshold and another.
    for shift, steps, threshold in ((1.0, 1, 0.025), (1.0, 2, 0.025), (1.0, 8, 0.025), (1.0, 30, 0.025), (2.0, 7, 0.1)):
        sched = flow_sched(shift, steps)
        sched["schedule"] = "linear_quadratic"
        sched["thresholdNoise"] = threshold
        specs.append((f"flow linear_quadratic shift{shift:g} {steps} theta{threshold:g}", sched))
    return specs


def build_case(name, sched):
    steps = sched["defaultSteps"]
    kind = sched["type"]
    if kind == "edm":
        plan = edm_plan(sched, steps)
        update = edm_updater(sched, plan)
        sampler, eta = sched["sampler"], sched["eta"]
    elif kind == "lcm":
        plan = lcm_plan(sched, steps)
        update = lcm_updater(sched, plan)
        sampler, eta = "lcm", 0.0
    elif kind == "flow" and sched.get("sampler") == "flow_dpmpp_2m":
        plan = flow_dpmpp_plan(sched, steps)
        update = flow_dpmpp_updater(sched, plan)
        sampler, eta = "flow_dpmpp_2m", 0.0
    elif kind == "flow" and sched.get("sampler") == "flow_unipc":
        plan = flow_unipc_plan(sched, steps)
        update = flow_unipc_updater(sched, plan)
        sampler, eta = "flow_unipc", 0.0
    elif kind == "flow":
        plan = flow_plan(sched, steps)
        update = flow_updater(sched, plan)
        sampler, eta = "flow_euler", 0.0
    else:
        raise ValueError(kind)
    trajectory = run(plan, update)
    case = {
        "name": name,
        "scheduler": sched,
        "sampler": sampler,
        "steps": steps,
        "eta": eta,
        "modelTimesteps": [float(v) for v in plan["modelTimesteps"]],
        "inputScales": [float(v) for v in plan["inputScales"]],
    }
    if "sigmas" in plan:
        case["sigmas"] = plan["sigmas"]
    case["initScale"] = float(plan["initScale"])
    case["trajectory"] = [[float(v) for v in x] for x in trajectory]
    return case


# ---------------------------------------------------------------------------------------------
# Self-checks (run on every invocation; they test invariants, not the fixture's numbers)


def close(a, b, rel=1e-6):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.all(np.abs(a - b) <= rel * np.maximum(1.0, np.abs(b))))


def self_checks(cases):
    by_name = {c["name"]: c for c in cases}
    results = []

    def check(label, ok):
        results.append((label, ok))

    for c in cases:
        flat = np.array(c["trajectory"], dtype=np.float64)
        ok = flat.shape == (c["steps"] + 1, N) and bool(np.all(np.isfinite(flat)))
        ok = ok and bool(np.all(flat == f32(flat)))  # every stored sample is a float32 value
        ok = ok and len(c["modelTimesteps"]) == c["steps"] == len(c["inputScales"])
        ok = ok and ("sigmas" not in c or len(c["sigmas"]) == c["steps"] + 1)
        check(f"{c['name']}: shapes, finite, float32-exact", ok)

    # edm, 1 step: every sampler returns D(x; sigma_0).
    sched = svd_like("euler", 1)
    x0 = f32(math.sqrt(700.0**2 + 1) * noise(0))
    c_in = 1 / math.sqrt(700.0**2 + 1)
    out = f32(model(c_in * x0, 0.25 * math.log(700.0)))
    D = f32(edm_denoised(sched, 700.0, out, x0))
    for s in ("euler", "euler_ancestral eta1", "dpmpp_2m"):
        check(f"svd {s} 1 step == D(x; sigma_0)", close(by_name[f"svd {s} 1"]["trajectory"][1], D))
    check(
        "svd dpmpp_2m 1 == svd euler 1 (bitwise)",
        by_name["svd dpmpp_2m 1"]["trajectory"] == by_name["svd euler 1"]["trajectory"],
    )
    # Karras endpoints and monotonicity.
    sig = by_name["svd euler 25"]["sigmas"]
    check(
        "karras sigma_0 = sigmaMax, sigma_{N-1} = sigmaMin, sigma_N = 0",
        close([sig[0], sig[-2], sig[-1]], [700.0, 0.002, 0.0], 1e-12),
    )
    check("karras sigmas strictly decreasing", all(a > b for a, b in zip(sig, sig[1:])))
    # Euler ancestral with eta = 0 is Euler.
    anc0 = build_case("x", svd_like("euler_ancestral", 25, 0.0))
    check(
        "euler_ancestral eta0 == euler (25 steps)",
        close(anc0["trajectory"], by_name["svd euler 25"]["trajectory"]),
    )
    # dpmpp_2m against an independent transcription in k-diffusion's exp/log form.
    check(
        "dpmpp_2m == k-diffusion transcription (svd 25, edm 18, sd 20)",
        all(
            close(dpmpp_2m_kdiff(by_name[n]), by_name[n]["trajectory"][-1], 1e-5)
            for n in ("svd dpmpp_2m 25", "edm dpmpp_2m 18", "sd discrete dpmpp_2m 20")
        ),
    )
    # Discrete timestep input: sigma_max -> T-1, sigma_min -> 0, training sigmas map to integers.
    sd = sd_discrete("euler", 8)
    mt = by_name["sd discrete euler 8"]["modelTimesteps"]
    train = training_sigmas(sd)
    check("discrete timesteps: first 999, last 0", close([mt[0], mt[-1]], [999.0, 0.0], 1e-9))
    check(
        "discrete timestep(sigma_train(t)) == t",
        all(abs(discrete_timestep(sd, float(train[t])) - t) < 1e-9 for t in (0, 1, 250, 500, 998, 999)),
    )
    check(
        "sd sigma range 0.0292.. -> 14.6146..",
        close([train[0], train[-1]], [0.029167, 14.614642], 1e-4),
    )
    # Flow: shift 1 gives plain linspace sigmas; shift maps sigma -> shift s/(1 + (shift-1) s).
    fs = by_name["flow shift1 4"]["sigmas"]
    check("flow shift1 sigmas = 1, 0.75, 0.5, 0.25, 0", close(fs, [1.0, 0.75, 0.5, 0.25, 0.0], 1e-15))
    fs3 = by_name["flow shift3 5"]["sigmas"]
    check("flow shift3 sigmas[1] = 3*0.8/(1+2*0.8)", close(fs3[1], 2.4 / 2.6, 1e-15))
    f1 = by_name["flow shift1 1"]
    x = np.array(f1["trajectory"][0])
    check("flow 1 step == x - out", close(f1["trajectory"][1], f32(x - f32(model(x, 1000.0)))))
    # LCM: diffusers' 4-step timesteps, and 1 step returns the boundary-condition denoised sample.
    check(
        "lcm 4 timesteps == 999, 759, 499, 259",
        by_name["lcm epsilon 4"]["modelTimesteps"] == [999.0, 759.0, 499.0, 259.0],
    )
    l1 = by_name["lcm epsilon 1"]
    abar = alphas_cumprod(l1["scheduler"])
    x = np.array(l1["trajectory"][0])
    out = f32(model(x, 999.0))
    x0 = (x - math.sqrt(1 - abar[999]) * out) / math.sqrt(abar[999])
    c_skip, c_out = 0.25 / (9990.0**2 + 0.25), 9990.0 / math.sqrt(9990.0**2 + 0.25)
    check(
        "lcm 1 step == c_out x0 + c_skip x",
        close(l1["trajectory"][1], f32(c_out * x0 + c_skip * x)),
    )
    # LTX's linear-quadratic grid: starts at 1, reaches 1 - theta after steps // 2 steps, falls
    # strictly, and its quadratic meets 0 at step N (the sigma appended after the last step).
    lq = by_name["flow linear_quadratic shift1 30 theta0.025"]["sigmas"]
    check(
        "linear_quadratic 30: 1 at step 0, 0.975 at step 15, strictly falling to 0",
        lq[0] == 1.0 and abs(lq[15] - 0.975) < 1e-12 and all(a > b for a, b in zip(lq, lq[1:])),
    )
    check(
        "linear_quadratic 1 step: sigma 1 alone",
        by_name["flow linear_quadratic shift1 1 theta0.025"]["sigmas"] == [1.0, 0.0],
    )
    return results


def dpmpp_2m_kdiff(case):
    """k-diffusion's sample_dpmpp_2m loop, transcribed independently (sigma_fn = exp(-t))."""
    sched, sig = case["scheduler"], case["sigmas"]
    x = f32(case["initScale"] * noise(0))
    old = None
    for i in range(case["steps"]):
        out = f32(model(case["inputScales"][i] * x, case["modelTimesteps"][i]))
        den = edm_denoised(sched, sig[i], out, x)
        t = -math.log(sig[i])
        if sig[i + 1] == 0:
            x = den
        else:
            t_next = -math.log(sig[i + 1])
            h = t_next - t
            if old is None:
                x = (math.exp(-t_next) / math.exp(-t)) * x - math.expm1(-h) * den
            else:
                r = (t - (-math.log(sig[i - 1]))) / h
                d_mix = (1 + 1 / (2 * r)) * den - (1 / (2 * r)) * old
                x = (math.exp(-t_next) / math.exp(-t)) * x - math.expm1(-h) * d_mix
        old = den
        x = f32(x)
    return x


def generate():
    cases = [build_case(name, sched) for name, sched in case_specs()]
    doc = {"generator": GENERATOR, "n": N, "protocol": PROTOCOL, "cases": cases}
    return cases, json.dumps(doc, indent=1, allow_nan=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the fixture is stale")
    parser.add_argument("--verbose", action="store_true", help="list the self-checks")
    args = parser.parse_args()
    cases, text = generate()
    results = self_checks(cases)
    if args.verbose:
        for label, ok in results:
            print(f"{'ok  ' if ok else 'FAIL'} {label}")
    failed = [label for label, ok in results if not ok]
    if failed:
        print("self-checks failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 2
    if args.check:
        # Compared as data, so a formatter's whitespace does not make it stale.
        current = json.loads(OUT_PATH.read_text()) if OUT_PATH.exists() else None
        if current != json.loads(text):
            print(f"{OUT_PATH} is stale: run {GENERATOR}", file=sys.stderr)
            return 1
        print(f"{OUT_PATH} is up to date ({len(cases)} cases)")
        return 0
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    OUT_PATH.write_text(text)
    print(f"wrote {OUT_PATH} ({len(cases)} cases, {len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
