import fc from 'fast-check';
import picomatch from 'picomatch/posix.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TRACK } from '../config/defaults.js';
import { isDmanError } from '../errors.js';
import { compileTrack } from './compileTrack.js';
import { normalizeInputPath } from './normalizeInputPath.js';
import { PICOMATCH_OPTIONS } from './parsePattern.js';
import { validatePattern } from './validatePattern.js';

const OMZ = ['.oh-my-zsh/plugins/**/*.zsh', '.oh-my-zsh/themes/*.zsh-theme'];
const DOCS = ['docs/', '!docs/config.yaml'];
const NESTED = ['x/', '!x/y/', 'x/y/keep'];

// [patterns, path, tracked, index of the deciding pattern (null: none matched)]
const table: [string[], string, boolean, number | null][] = [
  // oh-my-zsh plugins: ** spans zero or more directories
  [OMZ, '.oh-my-zsh/plugins/x.zsh', true, 0],
  [OMZ, '.oh-my-zsh/plugins/git/git.plugin.zsh', true, 0],
  [OMZ, '.oh-my-zsh/plugins/a/b/c/deep.zsh', true, 0],
  [OMZ, '.oh-my-zsh/plugins/git/README.md', false, null],
  [OMZ, '.oh-my-zsh/plugins/.hidden/h.zsh', true, 0],
  [OMZ, '.oh-my-zsh/plugins/git/.x.zsh', true, 0],
  [OMZ, '.oh-my-zsh/x.zsh', false, null],
  [OMZ, '.oh-my-zsh/plugins/git/git.plugin.zsh.bak', false, null],
  // themes: * stays inside one directory
  [OMZ, '.oh-my-zsh/themes/robbyrussell.zsh-theme', true, 1],
  [OMZ, '.oh-my-zsh/themes/.dot.zsh-theme', true, 1],
  [OMZ, '.oh-my-zsh/themes/sub/x.zsh-theme', false, null],
  [OMZ, '.oh-my-zsh/themes/x.zsh', false, null],
  // .nano/**
  [['.nano/**'], '.nano/sh.nanorc', true, 0],
  [['.nano/**'], '.nano/a/b/c.nanorc', true, 0],
  [['.nano/**'], '.nano/.hidden', true, 0],
  [['.nano/**'], '.nanorc', false, null],
  [['.nano/**'], '.nano2/x', false, null],
  // docs/ then !docs/config.yaml
  [DOCS, 'docs/readme.md', true, 0],
  [DOCS, 'docs/config.yaml', false, 1],
  [DOCS, 'docs/sub/config.yaml', true, 0],
  [DOCS, 'docs/config.yaml.bak', true, 0],
  [DOCS, 'docs', false, null],
  [DOCS, 'docsx/readme.md', false, null],
  [['!docs/config.yaml', 'docs/'], 'docs/config.yaml', true, 1],
  // nested negations
  [NESTED, 'x/a', true, 0],
  [NESTED, 'x/y/a', false, 1],
  [NESTED, 'x/y/z/a', false, 1],
  [NESTED, 'x/y/keep', true, 2],
  [NESTED, 'x/y/keep/inner', true, 2],
  [NESTED, 'x/ya', true, 0],
  [['.config/', '!.config/**/*.log', '.config/app/important.log'], '.config/app/important.log', true, 2],
  [['.config/', '!.config/**/*.log', '.config/app/important.log'], '.config/app/other.log', false, 1],
  [['.config/', '!.config/**/*.log', '.config/app/important.log'], '.config/app/settings.json', true, 0],
  // brace sets
  [['.{bash,zsh}rc'], '.bashrc', true, 0],
  [['.{bash,zsh}rc'], '.zshrc', true, 0],
  [['.{bash,zsh}rc'], '.kshrc', false, null],
  [['.config/{nvim,fish}/'], '.config/fish/config.fish', true, 0],
  [['.config/{nvim,fish}/'], '.config/helix/config.toml', false, null],
  [['{.ssh/config,.gnupg/gpg.conf}'], '.gnupg/gpg.conf', true, 0],
  [['{.ssh/config,.gnupg/gpg.conf}'], '.ssh/known_hosts', false, null],
  // dotfiles under ** and *
  [['**'], '.zshrc', true, 0],
  [['**'], '.config/.hidden/.deeper', true, 0],
  [['**', '!.cache/'], '.cache/x/y', false, 1],
  [['**/*.conf'], '.config/.x/a.conf', true, 0],
  [['**/*.conf'], 'a.conf', true, 0],
  [['*'], '.profile', true, 0],
  [['.*rc'], '.vimrc', true, 0],
  [['.*rc'], 'sub/.vimrc', false, null],
  // ? and brackets
  [['.vim?c'], '.vimrc', true, 0],
  [['.vim?c'], '.vimrrc', false, null],
  [['.[bz]ashrc'], '.zashrc', true, 0],
  [['.[!b]ashrc'], '.bashrc', false, null],
  [['.[!b]ashrc'], '.zashrc', true, 0],
  [['notes[0-9].txt'], 'notes7.txt', true, 0],
  // names with spaces and unicode
  [['My Documents/'], 'My Documents/a b.txt', true, 0],
  [['notes (old).txt'], 'notes (old).txt', true, 0],
  [['résumé/*.md'], 'résumé/café.md', true, 0],
  [['résumé/*.md'], 'résume\u0301/cafe\u0301.md', true, 0],
  [['日本語/'], '日本語/設定.conf', true, 0],
  [['*.txt'], '😀.txt', true, 0],
  // Windows-style and untidy input
  [OMZ, '.oh-my-zsh\\plugins\\git\\git.plugin.zsh', true, 0],
  [DOCS, 'docs\\config.yaml', false, 1],
  [['.config/nvim/'], '.\\.config\\nvim\\init.lua', true, 0],
  [['.bashrc'], './.bashrc', true, 0],
  [['.config/nvim/'], '.config//nvim/init.lua', true, 0],
  // a pattern naming a directory tracks everything below it; a trailing / only below
  [['.config/nvim'], '.config/nvim/lua/plugins.lua', true, 0],
  [['.config/nvim'], '.config/nvim', true, 0],
  [['.config/nvim/'], '.config/nvim', false, null],
  [['.config/n*/'], '.config/nvim', false, null],
  [['.config/n*/'], '.config/nvim/init.lua', true, 0],
  [['.config/n*'], '.config/nvim/init.lua', true, 0],
  [['.ssh/config'], '.ssh/config.d/x', false, null],
  // last match wins, literal and glob mixed
  [['.bashrc', '!.bashrc'], '.bashrc', false, 1],
  [['!.bashrc', '.bashrc'], '.bashrc', true, 1],
  [['.config/', '!.config/gh/hosts.yml'], '.config/gh/hosts.yml', false, 1],
  [['!*.swp', '**'], 'a.swp', true, 1],
  [['**', '!*.swp'], 'a.swp', false, 1],
  [['**', '!*.swp'], 'sub/a.swp', true, 0],
  [['**', '!**/*.swp'], 'sub/a.swp', false, 1],
  // escapes and defaults-like lists
  [['a\\*b'], 'a*b', true, 0],
  [['a\\*b'], 'axb', false, null],
  [[], '.bashrc', false, null],
  [['!.bashrc'], '.bashrc', false, 0],
  [['./.gitconfig'], '.gitconfig', true, 0],
  [[...DEFAULT_TRACK], '.ssh/id_ed25519', false, null],
  [[...DEFAULT_TRACK], '.ssh/config', true, DEFAULT_TRACK.indexOf('.ssh/config')],
];

describe('compileTrack: the table', () => {
  it('has at least 60 cases', () => expect(table.length).toBeGreaterThanOrEqual(60));
  it.each(table.map(([patterns, path, tracked, index]) => ({ patterns, path, tracked, index })))(
    '$patterns: $path → $tracked',
    ({ patterns, path, tracked, index }) => {
      const m = compileTrack(patterns);
      expect(m.isTracked(path)).toBe(tracked);
      const e = m.explain(path);
      expect(e.tracked).toBe(tracked);
      expect(e.index).toBe(index);
      expect(e.pattern).toBe(index === null ? null : patterns[index]);
    },
  );
});

describe('compileTrack: explain', () => {
  it('names the excluded parent directory', () => {
    const m = compileTrack(['.config/', '!.config/secret/']);
    expect(m.explain('.config/secret/a/b.txt')).toEqual({ tracked: false, pattern: '!.config/secret/', index: 1, dir: '.config/secret' });
    expect(m.explain('.config/a.txt')).toEqual({ tracked: true, pattern: '.config/', index: 0, dir: '.config' });
  });
  it('reports a direct match without a dir', () => {
    expect(compileTrack(['.bashrc']).explain('.bashrc')).toEqual({ tracked: true, pattern: '.bashrc', index: 0, dir: null });
  });
  it('never tracks the home itself or an absolute path', () => {
    const m = compileTrack(['**']);
    expect(m.isTracked('')).toBe(false);
    expect(m.isTracked('.')).toBe(false);
    expect(m.isTracked('/etc/passwd')).toBe(false);
  });
});

describe('compileTrack: explainDir', () => {
  const m = compileTrack(['.config/', '!.config/secret/', '.nano/**', '.config/secret/keep']);
  it.each([
    ['.config', { tracked: true, pattern: '.config/', index: 0, dir: '.config' }],
    ['.config/nvim/lua', { tracked: true, pattern: '.config/', index: 0, dir: '.config' }],
    ['.config/secret/sub', { tracked: false, pattern: '!.config/secret/', index: 1, dir: '.config/secret' }],
    ['.nano', { tracked: true, pattern: '.nano/**', index: 2, dir: '.nano' }],
    ['.cache', { tracked: false, pattern: null, index: null, dir: null }],
    ['', { tracked: false, pattern: null, index: null, dir: null }],
  ])('%s', (dir, expected) => expect(m.explainDir(dir)).toEqual(expected));
});

describe('compileTrack: shouldDescend', () => {
  const m = compileTrack([...DEFAULT_TRACK, '*/notes.md', '.config/', '!.cache/', '!.config/chromium/', '.config/chromium/Default/Preferences', '!.local/share/']);
  it.each([
    ['', true],
    ['.oh-my-zsh', true],
    ['.oh-my-zsh/plugins', true],
    ['.oh-my-zsh/plugins/git/deeper', true],
    ['.oh-my-zsh/themes', true],
    ['.oh-my-zsh/lib', false],
    ['.oh-my-zsh/themes/sub', false],
    ['.config', true],
    ['.config/anything', true],
    ['.config/chromium', true], // excluded, but a later pattern re-includes a file below it
    ['.config/chromium/Cache', false],
    ['.config/chromium/Default', true],
    ['.cache', false],
    ['.local', true], // */notes.md could match .local/notes.md
    ['.local/share', false],
    ['node_modules', true], // */notes.md could match node_modules/notes.md
    ['node_modules/x', false],
    ['.ssh', true],
    ['.ssh/keys', false],
    ['docs', true],
    ['docs/config.yaml', false],
    ['.vim\\pack', true],
  ])('%s → %s', (dir, expected) => expect(m.shouldDescend(dir)).toBe(expected));
  it('prunes everything for an exclusion-only list and nothing under **', () => {
    expect(compileTrack(['!.cache/']).shouldDescend('')).toBe(false);
    expect(compileTrack(['**', '!.cache/']).shouldDescend('.cache')).toBe(false);
    expect(compileTrack(['**', '!.cache/']).shouldDescend('.cachex')).toBe(true);
  });
  it('handles braces that span a directory separator without pruning wrongly', () => {
    const b = compileTrack(['{a/b,c}/x.txt']);
    expect(b.shouldDescend('a')).toBe(true);
    expect(b.shouldDescend('a/b')).toBe(true);
    expect(b.isTracked('a/b/x.txt')).toBe(true);
  });
});

describe('validatePattern', () => {
  it.each([
    ['.bashrc', null],
    ['.config/nvim/', null],
    ['!docs/config.yaml', null],
    ['**/*.{zsh,sh}', null],
    ['./.gitconfig', null],
    ['a\\*b', null],
    ['', /empty/],
    ['   ', /empty/],
    ['!', /empty/],
    ['./', /home directory itself/],
    ['/etc/passwd', /absolute/],
    ['!/home/me/.bashrc', /absolute/],
    ['C:\\Users\\me\\.gitconfig', /absolute/],
    ['~/.bashrc', /"~".*"\.bashrc"/],
    ['../outside', /"\.\."/],
    ['.config/../../etc', /"\.\."/],
    ['.config\\nvim\\init.lua', /separator.*"\.config\/nvim\/init\.lua"/],
    ['[abc', /not a valid glob/],
    ['{a,b', /not a valid glob/],
    ['a\0b', /NUL/],
  ] as [string, RegExp | null][])('%j', (p, expected) => {
    const problem = validatePattern(p);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(expected);
  });
  it('compileTrack refuses an invalid entry with PATTERN_INVALID naming it', () => {
    let caught: unknown;
    try { compileTrack(['.bashrc', '../x']); } catch (err) { caught = err; }
    expect(isDmanError(caught, 'PATTERN_INVALID')).toBe(true);
    expect((caught as Error).message).toMatch(/track pattern 2 \("\.\.\/x"\)/);
  });
});

describe('normalizeInputPath', () => {
  it.each([
    ['.bashrc', '.bashrc'],
    ['./.bashrc', '.bashrc'],
    ['.config\\nvim\\init.lua', '.config/nvim/init.lua'],
    ['a//b/', 'a/b'],
    ['a/./b', 'a/b'],
    ['.', ''],
    ['/abs/x', '/abs/x'],
    ['cafe\u0301', 'café'],
  ])('%j → %j', (input, expected) => expect(normalizeInputPath(input)).toBe(expected));
});

// The reference: try every pattern from the last, against the path and each ancestor directory.
function naiveDecision(patterns: string[], path: string): number {
  for (let i = patterns.length - 1; i >= 0; i--) {
    const neg = patterns[i].startsWith('!');
    let body = neg ? patterns[i].slice(1) : patterns[i];
    const dirOnly = body.endsWith('/');
    if (dirOnly) body = body.slice(0, -1);
    const re = picomatch.makeRe(body, PICOMATCH_OPTIONS);
    const parts = path.split('/');
    const candidates = parts.map((_, k) => parts.slice(0, k + 1).join('/'));
    if (dirOnly) candidates.pop();
    if (candidates.some((c) => re.test(c))) return i;
  }
  return -1;
}

const segment = fc.constantFrom('a', 'b', '.c', 'ab', 'b.c', 'a b', 'é');
const globSegment = fc.constantFrom('a', 'b', '.c', 'ab', '*', '?', '**', 'a*', '[ab]', '[!a]*', '{a,b}', '{a,.c}', '*.c', 'é');
const pathArb = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
const patternArb = fc
  .tuple(fc.boolean(), fc.array(globSegment, { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([neg, segs, slash]) => `${neg ? '!' : ''}${segs.join('/')}${slash ? '/' : ''}`);

describe('compileTrack: properties', () => {
  it('decides like the naive "last match wins" reference, and explain agrees with isTracked', () => {
    fc.assert(
      fc.property(fc.array(patternArb, { maxLength: 6 }), fc.array(pathArb, { minLength: 1, maxLength: 8 }), (patterns, paths) => {
        const m = compileTrack(patterns);
        for (const p of paths) {
          const i = naiveDecision(patterns, p);
          const expected = i >= 0 && !patterns[i].startsWith('!');
          expect(m.isTracked(p)).toBe(expected);
          const e = m.explain(p);
          expect(e.tracked).toBe(expected);
          expect(e.index).toBe(i >= 0 ? i : null);
        }
      }),
      { numRuns: 400 },
    );
  });
  it('never prunes a directory that holds a tracked path', () => {
    fc.assert(
      fc.property(fc.array(patternArb, { maxLength: 6 }), fc.array(pathArb, { minLength: 1, maxLength: 8 }), (patterns, paths) => {
        const m = compileTrack(patterns);
        for (const p of paths) {
          if (!m.isTracked(p)) continue;
          const parts = p.split('/');
          for (let k = 0; k < parts.length; k++) expect(m.shouldDescend(parts.slice(0, k).join('/'))).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });
});
