#!/usr/bin/env node
// Runs the compiled CLI; `npm run build` produces dist/ (npm test and .ci/run build first).
import { main } from '../dist/cli/index.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
