/**
 * Denoising loops whose sample never leaves the GPU (issue 23): on WebGPU the denoiser reads its
 * sample from, and writes its prediction into, buffers this module owns on ONNX Runtime's own
 * GPUDevice; the sampler's update (every family is a linear combination: `SamplerPlan.linear`)
 * and the per-frame latent statistics run as small compute shaders on the same device, so each
 * step reads back five numbers per frame instead of the latents, and the sample is read once at
 * the end. The keyframe latents are uploaded once per batch.
 */
import type * as OrtModule from 'onnxruntime-web';
import { GraphRunError, type ResidentLoop, type ResidentRunner } from '../core/graph';
import { checkOutput } from '../core/runChecks';
import type { LatentStats } from '../core/stats';

type Ort = typeof OrtModule;

const WORKGROUP = 256;
/** Statistics per frame: Σx, Σx², min, max, count of non-finite values. */
const STATS = 5;

/** x ← k·x into another buffer: the model's input c_in·x. */
const SCALE = /* wgsl */ `
struct P { k: f32, n: u32 };
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = id.x + id.y * nw.x * ${WORKGROUP}u;
  if (i < p.n) { y[i] = p.k * x[i]; }
}`;

/** The sampler's update: x ← cx·x + co·o + cz·z + cp·p, and p ← kx·x + ko·o when keep. */
const UPDATE = /* wgsl */ `
struct P { cx: f32, co: f32, cz: f32, cp: f32, kx: f32, ko: f32, keep: u32, n: u32 };
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> o: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> prev: array<f32>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = id.x + id.y * nw.x * ${WORKGROUP}u;
  if (i >= p.n) { return; }
  let xv = x[i];
  let ov = o[i];
  x[i] = p.cx * xv + p.co * ov + p.cz * z[i] + p.cp * prev[i];
  if (p.keep != 0u) { prev[i] = p.kx * xv + p.ko * ov; }
}`;

/**
 * One workgroup per frame: Σ, Σ², min and max of k·x over the finite values and the count of the
 * others. Finiteness is read from the bits, since WGSL lets a compiler assume no NaN or ∞ in
 * float arithmetic.
 */
const REDUCE = /* wgsl */ `
struct P { k: f32, n: u32 };
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> s1: array<f32, ${WORKGROUP}>;
var<workgroup> s2: array<f32, ${WORKGROUP}>;
var<workgroup> lo: array<f32, ${WORKGROUP}>;
var<workgroup> hi: array<f32, ${WORKGROUP}>;
var<workgroup> bad: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let base = wg.x * p.n;
  var a = 0.0;
  var b = 0.0;
  var mn = 3.0e38;
  var mx = -3.0e38;
  var nf = 0.0;
  for (var i = t; i < p.n; i += ${WORKGROUP}u) {
    let raw = x[base + i];
    if ((bitcast<u32>(raw) & 0x7f800000u) == 0x7f800000u) { nf += 1.0; continue; }
    let v = p.k * raw;
    a += v;
    b += v * v;
    mn = min(mn, v);
    mx = max(mx, v);
  }
  s1[t] = a; s2[t] = b; lo[t] = mn; hi[t] = mx; bad[t] = nf;
  workgroupBarrier();
  for (var w = ${WORKGROUP / 2}u; w > 0u; w = w / 2u) {
    if (t < w) {
      s1[t] += s1[t + w];
      s2[t] += s2[t + w];
      lo[t] = min(lo[t], lo[t + w]);
      hi[t] = max(hi[t], hi[t + w]);
      bad[t] += bad[t + w];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let o = wg.x * ${STATS}u;
    out[o] = s1[0]; out[o + 1u] = s2[0]; out[o + 2u] = lo[0]; out[o + 3u] = hi[0]; out[o + 4u] = bad[0];
  }
}`;

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Workgroups for n elements, split over y beyond the 65535 one dimension allows. */
function grid(n: number): [number, number] {
  const groups = Math.ceil(n / WORKGROUP);
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

/** Pipelines compiled once per device. */
const pipelines = new WeakMap<
  GPUDevice,
  Record<'scale' | 'update' | 'reduce', GPUComputePipeline>
>();

function pipelinesFor(
  device: GPUDevice,
): Record<'scale' | 'update' | 'reduce', GPUComputePipeline> {
  let p = pipelines.get(device);
  if (!p) {
    const make = (code: string) =>
      device.createComputePipeline({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
      });
    p = { scale: make(SCALE), update: make(UPDATE), reduce: make(REDUCE) };
    pipelines.set(device, p);
  }
  return p;
}

/**
 * Appends a copy of `bytes` of `src` into the mappable `staging` to `enc`, submits it, and reads
 * the copy back to the CPU.
 */
async function readBack(
  device: GPUDevice,
  enc: GPUCommandEncoder,
  src: GPUBuffer,
  staging: GPUBuffer,
  bytes: number,
): Promise<ArrayBuffer> {
  enc.copyBufferToBuffer(src, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ, 0, bytes);
  try {
    return staging.getMappedRange(0, bytes).slice(0);
  } finally {
    staging.unmap();
  }
}

/** `ResidentRunner` for a WebGPU session of ONNX Runtime Web; the device is ORT's own. */
/**
 * The resident loop of `session` (named `what` in messages). Its first step reads the prediction
 * back once and gives it the check every output gets on the CPU path (`checkOutput`: non-finite
 * values, all zeros — what fp16 graphs return on an adapter without shader-f16); later steps are
 * watched through the sample's statistics, which count non-finite values.
 */
export function residentRunner(
  session: OrtModule.InferenceSession,
  rt: Ort,
  what: string,
): ResidentRunner {
  return {
    async begin({ sample, output, dims, constants }): Promise<ResidentLoop> {
      const device = (await Promise.resolve(rt.env.webgpu.device)) as GPUDevice | undefined;
      if (!device) throw new Error('ONNX Runtime has no WebGPU device for this session');
      const frames = dims[0]!;
      const n = dims.reduce((a, b) => a * b, 1);
      const frameLen = n / frames;
      const bytes = n * 4;
      const own: GPUBuffer[] = [];
      const buffer = (size: number, usage = STORAGE) => {
        const b = device.createBuffer({ size: Math.max(16, size), usage });
        own.push(b);
        return b;
      };
      const x = buffer(bytes);
      const input = buffer(bytes);
      const out = buffer(bytes);
      const noise = buffer(bytes);
      const prev = buffer(bytes);
      const statsBytes = frames * STATS * 4;
      const stats = buffer(statsBytes);
      const mappable = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
      // One staging buffer for every step's statistics; the sample's is made once, at the end.
      const statsStaging = buffer(statsBytes, mappable);
      const uniform = () => buffer(32, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      const scaleParams = uniform();
      const updateParams = uniform();
      const reduceParams = uniform();
      const tensor = (b: GPUBuffer, d: readonly number[]) =>
        rt.Tensor.fromGpuBuffer(b, { dataType: 'float32', dims: d });
      const fixed: Record<string, OrtModule.Tensor> = {};
      for (const [name, t] of Object.entries(constants)) {
        const b = buffer(t.data.byteLength);
        device.queue.writeBuffer(b, 0, t.data);
        fixed[name] = tensor(b, t.dims);
      }
      const p = pipelinesFor(device);
      const bind = (pipe: GPUComputePipeline, buffers: GPUBuffer[]) =>
        device.createBindGroup({
          layout: pipe.getBindGroupLayout(0),
          entries: buffers.map((b, i) => ({ binding: i, resource: { buffer: b } })),
        });
      const scaleGroup = bind(p.scale, [scaleParams, x, input]);
      const updateGroup = bind(p.update, [updateParams, x, out, noise, prev]);
      const reduceGroup = bind(p.reduce, [reduceParams, x, stats]);
      const dispatch = (
        enc: GPUCommandEncoder,
        pipe: GPUComputePipeline,
        group: GPUBindGroup,
        size: [number, number],
      ) => {
        const pass = enc.beginComputePass();
        pass.setPipeline(pipe);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(size[0], size[1]);
        pass.end();
      };
      const kAndN = (k: number, count: number) => {
        const a = new ArrayBuffer(8);
        new Float32Array(a, 0, 1)[0] = k;
        new Uint32Array(a, 4, 1)[0] = count;
        return a;
      };
      /** The statistics of k·x, frame by frame, as computeLatentStats gives them. */
      const frameStats = async (k: number, enc: GPUCommandEncoder): Promise<LatentStats[]> => {
        device.queue.writeBuffer(reduceParams, 0, kAndN(k, frameLen));
        dispatch(enc, p.reduce, reduceGroup, [frames, 1]);
        const v = new Float32Array(await readBack(device, enc, stats, statsStaging, statsBytes));
        return Array.from({ length: frames }, (_, f) => {
          const [s1, s2, lo, hi, bad] = v.subarray(f * STATS, (f + 1) * STATS);
          const count = frameLen - bad!;
          if (count === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN, nonFinite: bad! };
          const mean = s1! / count;
          return {
            mean,
            std: Math.sqrt(Math.max(0, s2! / count - mean * mean)),
            min: lo!,
            max: hi!,
            nonFinite: bad!,
          };
        });
      };
      const inputTensor = tensor(input, dims);
      const outputTensor = tensor(out, dims);
      const xTensor = tensor(x, dims);
      let checked = false;
      return {
        async start(data, statScale) {
          // prev and noise start as zeros: WebGPU creates buffers zeroed.
          device.queue.writeBuffer(x, 0, data);
          return frameStats(statScale, device.createCommandEncoder());
        },
        async step({ feeds, inputScale, linear, noise: z, statScale }) {
          let modelInput = xTensor;
          if (inputScale !== 1) {
            device.queue.writeBuffer(scaleParams, 0, kAndN(inputScale, n));
            const enc = device.createCommandEncoder();
            dispatch(enc, p.scale, scaleGroup, grid(n));
            device.queue.submit([enc.finish()]);
            modelInput = inputTensor;
          }
          const cpu: Record<string, OrtModule.Tensor> = {};
          for (const [name, t] of Object.entries(feeds))
            cpu[name] = new rt.Tensor('float32', t.data, t.dims as number[]);
          try {
            await session.run(
              { ...cpu, ...fixed, [sample]: modelInput },
              { [output]: outputTensor },
            );
          } catch (e) {
            const shapes = Object.fromEntries(
              [...Object.entries({ ...feeds, ...constants }), [sample, { dims }] as const].map(
                ([name, t]) => [name, { data: new Float32Array(0), dims: [...t.dims] }],
              ),
            );
            throw new GraphRunError(what, shapes, e);
          }
          if (!checked) {
            checked = true;
            const pred = new Float32Array(
              await readBack(
                device,
                device.createCommandEncoder(),
                out,
                buffer(bytes, mappable),
                bytes,
              ),
            );
            checkOutput({ data: pred, dims: [...dims] }, dims, 'denoiser');
          }
          if (z) device.queue.writeBuffer(noise, 0, z);
          const params = new ArrayBuffer(32);
          const f = new Float32Array(params, 0, 6);
          f.set([linear.x, linear.out, z ? linear.noise : 0, linear.prev]);
          if (linear.keep) f.set([linear.keep.x, linear.keep.out], 4);
          new Uint32Array(params, 24, 2).set([linear.keep ? 1 : 0, n]);
          device.queue.writeBuffer(updateParams, 0, params);
          const enc = device.createCommandEncoder();
          dispatch(enc, p.update, updateGroup, grid(n));
          return frameStats(statScale, enc);
        },
        async read() {
          const staging = buffer(bytes, mappable);
          const enc = device.createCommandEncoder();
          return new Float32Array(await readBack(device, enc, x, staging, bytes));
        },
        release() {
          for (const b of own) b.destroy();
        },
      };
    },
  };
}
