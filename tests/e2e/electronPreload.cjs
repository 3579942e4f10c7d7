// Loaded into the Electron main process with `-r` by tests/e2e/electronApp.ts, right after
// Playwright's own loader, which forces `--password-store=basic` (and a mock keychain on macOS)
// so that test runs never meet a keyring prompt. dman refuses to keep its token in the plain-text
// "basic" store, so on Linux the spec runs a private GNOME Keyring and asks for it here instead.
// The last appendSwitch of a switch wins, and this runs at the same point as Playwright's.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a -r module is CommonJS
const { app } = require('electron');

const store = process.env.DMAN_E2E_PASSWORD_STORE;
if (store) app.commandLine.appendSwitch('password-store', store);
