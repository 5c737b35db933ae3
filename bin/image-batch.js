#!/usr/bin/env node
// Entry point of the image-batch CLI: runs the compiled TypeScript in dist/ (built by `npm ci` via `prepare`).
import { main } from '../dist/cli/main.js';

// `image-batch ... | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv);
