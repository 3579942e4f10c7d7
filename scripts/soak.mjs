#!/usr/bin/env node
// `npm run soak`: the long runs of the reliability proof (docs/reliability.md). The harness is
// TypeScript under tests/proof; tsx loads it in-process.
import { register } from 'tsx/esm/api';

register();
const { soakMain } = await import('../tests/proof/sim/soakCli.ts');
process.exitCode = await soakMain(process.argv.slice(2));
