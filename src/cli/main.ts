/**
 * `inbetween` — the studio's command line, over the same src/core as the page, with
 * onnxruntime-node. Bad arguments and bad files exit non-zero with a one-line reason. The usage is
 * usage.ts; each command is its own module, imported when it runs, so that `--help` and `report`
 * need no ONNX Runtime and the others say in one line when it cannot be loaded (runtime.ts).
 */
import { UsageError } from './args';
import { loadNodeRuntime } from './runtime';
import { USAGE } from './usage';

type Command = (argv: string[]) => Promise<number>;

/** Each command's module, and whether it runs graphs (then onnxruntime-node is loaded first). */
const COMMANDS: Record<string, { runsGraphs: boolean; load: () => Promise<Command> }> = {
  interpolate: {
    runsGraphs: true,
    load: async () => (await import('./interpolate')).interpolateCommand,
  },
  sequence: {
    runsGraphs: true,
    load: async () => {
      const { sequenceCommand } = await import('./sequence');
      return async (argv) => {
        await sequenceCommand(argv);
        return 0;
      };
    },
  },
  score: { runsGraphs: true, load: async () => (await import('./score')).scoreCommand },
  eval: { runsGraphs: true, load: async () => (await import('./evalCommands')).evalCommand },
  report: { runsGraphs: false, load: async () => (await import('./report')).reportCommand },
};

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '--help' || command === '-h') {
      console.log(USAGE);
      return command ? 0 : 2;
    }
    const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!entry) throw new UsageError(`unknown command "${command}" (try: inbetween --help)`);
    if (entry.runsGraphs) await loadNodeRuntime();
    const run = await entry.load();
    return await run(rest);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    console.error(`inbetween: ${msg}`);
    return e instanceof UsageError ? 2 : 1;
  }
}
