#!/usr/bin/env node
// The `inbetween` command: runs src/cli/main.ts through tsx's loader, so the CLI and the page share
// one TypeScript core without a separate build step. A CLI that cannot be loaded at all (tsx or a
// module missing after a partial install) says so in one line, not with a stack trace.
let main;
try {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
} catch (e) {
  const reason = String(e?.message ?? e).split('\n')[0];
  console.error(
    `inbetween: the command could not be loaded: ${reason}. Reinstall its dependencies with \`npm ci\`.`,
  );
  process.exitCode = 1;
}
if (main) process.exitCode = await main(process.argv.slice(2));
