/**
 * The CLI's help text, apart from the commands' code: `inbetween --help` prints it without loading
 * a command, so it works where onnxruntime-node cannot be loaded.
 */
import { TIMING_PRESETS } from '../core/sequence/timing';

const SEQUENCE_USAGE = `  inbetween sequence --pack DIR --keys A.png B.png C.png … --out DIR
                     [--frames N | N1,N2,…] [--timing PRESET | P1,P2,…] [--exposure E | E1,E2,…]
                     [--fps F] [--pingpong] [--steps S] [--seed K] [--variant ID] [--lora-scale X]
                     [--fit auto|letterbox|crop|native] [--name NAME] [--gif] [--apng] [--zip]`;

const SEQUENCE_HELP = `  --frames       in-betweens: interpolate N (default 1); sequence one for all gaps or one per gap (default 3)
  --timing       ${TIMING_PRESETS.filter((t) => t !== 'typed').join(', ')}, or typed=0.2:0.5:0.9;
                 one for all gaps or one per gap, comma-separated (default even)
  --exposure     1, 2 or 3 (on ones, twos, threes), one for all or one per gap (default 1)
  --fps F        frame rate of the GIF/APNG and sequence.json (default 12)
  --pingpong     the GIF/APNG/zip cycle goes forward and back (default: loop)`;

const EVAL_USAGE = `  inbetween eval --pack DIR --data DIR --out DIR [--split S] [--sequence triplets|every:K]
                 [--variants A,B] [--lora-scales X,Y] [--guidance X,Y] [--steps N,M] [--seeds S,T]
                 [--protocol studio|kdq] [--fit letterbox|auto|crop|native] [--shard i/n] [--resume]
                 [--lpips DIR] [--threads N] [--device cpu|cuda] [--quiet]
  inbetween report RUN_DIR... [--ref CONFIG] [--format md|csv|tex|json] [--out FILE]`;

/** What `inbetween --help` prints (and `inbetween` alone, to stdout, exiting 2). */
export const USAGE = `usage:
  inbetween interpolate --pack DIR --start A.png --end B.png --out DIR
                        [--frames N] [--steps S] [--seed K] [--variant ID] [--lora-scale X] [--fit auto|letterbox|crop|native]
                        [--guidance X] [--scalar NAME=X]... [--prompt ID | --text "…"] [--sampler NAME]
                        [--gt G.png] [--lpips DIR]
${SEQUENCE_USAGE}
  inbetween score A.png B.png [--json] [--lpips DIR] [--require-lpips]
${EVAL_USAGE}
  inbetween --help

  --fit F        how keyframes meet the model's frame (interpolate, sequence): auto (default) runs
                 them at their own size when that frame is no bigger than the pack's, else letterbox
  --guidance X   classifier-free guidance scale (format-2 packs with guidance; 1 = off)
  --sampler NAME another sampler of the pack's family (EDM: euler, euler_ancestral, dpmpp_2m; flow: flow_euler, flow_unipc, flow_dpmpp_2m)
  --scalar N=X   a scalar conditioning input of the pack, e.g. --scalar fs=24 (repeatable)
  --prompt ID    one of the pack's prompts (format-2 packs with prompts)
  --text "…"     a typed prompt, tokenised and encoded by the pack (format-2 packs with text)
  --gt G.png     score the in-between at τ = 0.5 (a clip pack with an even clip: its frame
                 nearest 0.5) against G (odd --frames only) into run.json
  --lpips DIR    LPIPS graphs built by models/training/export_lpips.py (default: models/lpips)
${SEQUENCE_HELP}`;
