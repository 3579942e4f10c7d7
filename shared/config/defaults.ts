// Defaults of dman.yaml. Browser-safe: the setup wizard shows these lists before a file exists.

// The seed's example list plus the files its users keep beside those (.bash_profile, .zshenv, git's
// XDG config, .vim/): a default that missed them would sync half a shell setup.
/** Lists the patterns used when dman.yaml has no global `track`; docs/config.yaml shows this exact list (a test compares them). */
export const DEFAULT_TRACK: readonly string[] = Object.freeze([
  '.bashrc',
  '.bash_profile',
  '.bash_aliases',
  '.zshrc',
  '.zprofile',
  '.zshenv',
  '.profile',
  '.inputrc',
  '.gitconfig',
  '.gitignore_global',
  '.config/git/',
  '.vimrc',
  '.vim/',
  '.config/nvim/',
  '.nanorc',
  '.nano/**',
  '.tmux.conf',
  '.ssh/config',
  '.oh-my-zsh/plugins/**/*.zsh',
  '.oh-my-zsh/themes/*.zsh-theme',
  '.oh-my-zsh/custom/',
  'docs/',
  '!docs/config.yaml',
]);

/** Named pattern sets that the tray can switch on and off (config `groups:` adds to or replaces these). */
export const DEFAULT_GROUPS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  shell: ['.bashrc', '.bash_profile', '.bash_aliases', '.zshrc', '.zprofile', '.zshenv', '.profile', '.inputrc'],
  'oh-my-zsh': ['.oh-my-zsh/plugins/**/*.zsh', '.oh-my-zsh/themes/*.zsh-theme', '.oh-my-zsh/custom/'],
  git: ['.gitconfig', '.gitignore_global', '.config/git/'],
  ssh: ['.ssh/config'],
  editor: ['.vimrc', '.vim/', '.config/nvim/', '.nanorc', '.nano/**'],
  tmux: ['.tmux.conf'],
  docs: ['docs/', '!docs/config.yaml'],
});

/** The server URL a client uses when the config names none. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:3626';
/** The address the server listens on when the config names none. */
export const DEFAULT_LISTEN = '127.0.0.1:3626';
/** Versions and days of history the server keeps by default. */
export const DEFAULT_RETENTION = Object.freeze({ versions: 20, days: 30 });
/** The share of tracked files that may change in one sync before dman asks (and the floor below which it never asks). */
export const DEFAULT_MASS_CHANGE = Object.freeze({ ratio: 0.5, min_files: 10 });
