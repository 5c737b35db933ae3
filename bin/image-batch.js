#!/usr/bin/env node
// Entry point of the image-batch CLI: runs the compiled TypeScript in dist/ (built by `npm ci` via `prepare`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
