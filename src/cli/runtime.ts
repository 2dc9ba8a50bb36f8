/**
 * onnxruntime-node, loaded when a command that runs a graph starts rather than when the CLI does:
 * its native binary exists for some platforms only (not Intel macOS, nor musl Linux such as
 * Alpine), and a partial install may lack it. `inbetween --help` and
 * `inbetween report` work without it; the commands that need it say in one line why it is missing.
 */

/** onnxruntime-node cannot be loaded here; the message is the one line the CLI prints. */
export class RuntimeUnavailableError extends Error {}

/**
 * Loads onnxruntime-node (`load`, a parameter for tests); throws `RuntimeUnavailableError`
 * naming the platform and the loader's reason when it cannot be loaded.
 */
export async function loadNodeRuntime(
  load: () => Promise<unknown> = () => import('onnxruntime-node'),
): Promise<void> {
  try {
    await load();
  } catch (e) {
    // Node's "Cannot find module …" goes on with its require stack: its first line says enough.
    const reason = String((e as Error | undefined)?.message ?? e).split('\n')[0];
    throw new RuntimeUnavailableError(
      `ONNX Runtime for Node could not be loaded on ${process.platform}/${process.arch}: ${reason}. ` +
        'This command runs models and needs it: onnxruntime-node ships binaries for Linux (glibc) ' +
        'x64/arm64, Windows x64/arm64 and macOS arm64 (`npm ci` installs them). ' +
        '`inbetween report` and `inbetween --help` work without it.',
      { cause: e },
    );
  }
}
