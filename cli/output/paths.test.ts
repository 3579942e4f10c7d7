import { describe, expect, it } from 'vitest';
import { testConfig } from '../../engine/testing/engineFixture.js';
import { toUserPath } from './paths.js';

const one = testConfig('/home/alice');
const two = { ...one, users: { alice: { home: '/home/alice', track: ['**'] }, bob: { home: '/home/bob', track: ['**'] } } };

describe('toUserPath', () => {
  it.each([
    ['.bashrc', '.bashrc'],
    ['./.config/nvim/', '.config/nvim'],
    ['~/.zshrc', '.zshrc'],
    ['/home/alice/.ssh/config', '.ssh/config'],
  ])('reads %s as %s in the only home', (input, path) => {
    expect(toUserPath(one, input)).toEqual({ user: 'alice', path });
  });

  it('finds the user by an absolute path, or by the candidates, and asks for --user otherwise', () => {
    expect(toUserPath(two, '/home/bob/.vimrc')).toEqual({ user: 'bob', path: '.vimrc' });
    expect(toUserPath(two, '.vimrc', undefined, ['bob\0.vimrc'])).toEqual({ user: 'bob', path: '.vimrc' });
    expect(() => toUserPath(two, '.vimrc')).toThrow(/pass --user|several users/);
    expect(toUserPath(two, '.vimrc', 'alice')).toEqual({ user: 'alice', path: '.vimrc' });
  });

  it('refuses paths outside a home and unknown users', () => {
    expect(() => toUserPath(one, '/etc/passwd')).toThrow(/not inside/);
    expect(() => toUserPath(one, '../x')).toThrow(/not a path inside a home/);
    expect(() => toUserPath(one, '.bashrc', 'mallory')).toThrow(/no user "mallory"/);
  });
});
