// Loaded into the Electron main process with `-r` by tests/e2e/electronApp.ts, before the app.
// On Linux the spec runs a private GNOME Keyring and asks Chromium's password store for it here
// (DMAN_E2E_PASSWORD_STORE=gnome-libsecret): dman refuses to keep its token in the plain-text
// "basic" store, which is what Chromium picks on a machine with no desktop session, and what
// Playwright's own Electron loader forces when it launches the `electron` package itself. As a
// -r module listed after that loader, this runs after it, and the last appendSwitch wins.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a -r module is CommonJS
const { app } = require('electron');

const store = process.env.DMAN_E2E_PASSWORD_STORE;
if (store) app.commandLine.appendSwitch('password-store', store);
