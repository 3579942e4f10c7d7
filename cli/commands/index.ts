// Every command group of the `dman` CLI. One module per group, each exporting register().
import type { Command } from 'commander';
import { register as agent } from './agent.js';
import { register as audit } from './audit.js';
import { register as completion } from './completion.js';
import { register as config } from './config.js';
import { register as doctor } from './doctor.js';
import { register as files } from './files.js';
import { register as init } from './init.js';
import { register as login } from './login.js';
import { register as patterns } from './patterns.js';
import { register as serve } from './serve.js';
import { register as sync } from './sync.js';
import { register as token } from './token.js';
import { register as version } from './version.js';

/** Registers every command on the root program. */
export function registerAll(program: Command): void {
  for (const register of [agent, audit, completion, config, doctor, files, init, login, patterns, serve, sync, token, version]) register(program);
}
