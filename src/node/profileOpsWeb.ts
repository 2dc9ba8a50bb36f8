/**
 * The onnxruntime-web half of `npm run profile`, run by `profileWeb` (src/node/profileOps.ts) as
 * `node --import tsx profileOpsWeb.ts job.json` with its stdout sent to a file: ORT Web's WASM
 * build prints the profile's trace to stdout (fd 1) when profiling ends — there is no file to name
 * and no hook to catch it (`timeSessions` ends the profile) — so this process prints nothing else
 * there.
 */
import { writeFileSync } from 'node:fs';
import * as ortWeb from 'onnxruntime-web';
import { SESSION_TUNING } from '../core/graph';
import { readWebJob, timeSessions } from './profileOps';

const { job, bytes, externalData, feeds } = readWebJob(process.argv[2]!);
// Set before the first session, as the studio's ortEnv.ts does: the WASM module starts its thread
// pool once. Unset, onnxruntime-web in Node takes min(4, ceil(cores / 2)) threads — 1 on 2 cores.
ortWeb.env.wasm.numThreads = job.threads;
ortWeb.env.logLevel = 'error';
// The studio's WASM session options (src/workers/ortEnv.ts, createSession), and profiling.
const timings = await timeSessions(
  (profiling) =>
    ortWeb.InferenceSession.create(bytes, {
      executionProviders: ['wasm'],
      ...SESSION_TUNING,
      ...(profiling ? { enableProfiling: true } : {}),
      ...(externalData.length ? { externalData } : {}),
    }),
  ortWeb,
  job.what,
  feeds,
  job,
);
writeFileSync(job.result, JSON.stringify(timings));
