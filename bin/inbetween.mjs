#!/usr/bin/env node
// The `inbetween` command: runs src/cli/main.ts through tsx's loader, so the CLI and the page share
// one TypeScript core without a separate build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
