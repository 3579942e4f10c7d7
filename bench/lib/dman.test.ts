import { describe, expect, it } from 'vitest';
import { cliEnv, MACHINE_NODE_VARS, nodeStartupMs, withoutMachineNodeVars } from './dman.js';

describe('the environment the bench runs dman in', () => {
  it('drops the machine settings that slow every Node start, and keeps the rest', () => {
    const base = { PATH: '/usr/bin', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', NODE_OPTIONS: '--max-old-space-size=512', DMAN_CONFIG: '/x.yaml' };
    const env = cliEnv('/tmp/bench-x', base);
    expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect(env.PATH).toBe('/usr/bin');
    // A setting the person running the bench chose stays.
    expect(env.NODE_OPTIONS).toBe('--max-old-space-size=512');
    expect(env).toMatchObject({ HOME: '/tmp/bench-x', XDG_STATE_HOME: '/tmp/bench-x/state', DMAN_CONFIG: '', NO_COLOR: '1' });
    expect(withoutMachineNodeVars(base)).not.toHaveProperty('NODE_EXTRA_CA_CERTS');
    // The input is not changed.
    expect(base.NODE_EXTRA_CA_CERTS).toBe('/etc/ssl/certs/ca-certificates.crt');
    expect(MACHINE_NODE_VARS).toContain('NODE_EXTRA_CA_CERTS');
  });

  it('times a bare node start with and without them, and names what it dropped', () => {
    const s = nodeStartupMs(1);
    expect(s.dman).toBeGreaterThan(0);
    expect(s.inherited).toBeGreaterThan(0);
    expect(s.dropped).toEqual(MACHINE_NODE_VARS.filter((k) => process.env[k] !== undefined));
  });
});
