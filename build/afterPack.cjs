// electron-builder afterPack hook: decides from the environment whether this build will be
// code-signed, says so loudly when it will not, and writes resources/dman-build.json, which
// main/updater.ts reads: an unsigned build never updates itself. It runs before signing, so the
// file is covered by the macOS signature. Signing identities come only from the environment.
/* eslint-disable @typescript-eslint/no-require-imports -- electron-builder require()s this CommonJS hook */
'use strict';
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const MARKER = 'dman-build.json';

/** Decides, from the environment, whether a build for `platform` will be signed and may update itself. */
function signingFacts(platform, env) {
  const has = (...names) => names.some((n) => typeof env[n] === 'string' && env[n].trim() !== '');
  if (platform === 'darwin' || platform === 'mas') {
    const signed = has('CSC_LINK', 'CSC_NAME');
    const notarized = has('APPLE_API_KEY') ? has('APPLE_API_KEY_ID', 'APPLE_API_ISSUER')
      : has('APPLE_ID') ? has('APPLE_APP_SPECIFIC_PASSWORD') && has('APPLE_TEAM_ID')
        : has('APPLE_KEYCHAIN_PROFILE');
    const missing = [];
    if (!signed) missing.push('CSC_LINK (+ CSC_KEY_PASSWORD): a Developer ID Application certificate');
    if (!notarized) missing.push('APPLE_API_KEY + APPLE_API_KEY_ID + APPLE_API_ISSUER, or APPLE_ID + APPLE_APP_SPECIFIC_PASSWORD + APPLE_TEAM_ID: notarization');
    return { signed, notarized, updatable: signed, missing };
  }
  if (platform === 'win32') {
    const signed = has('WIN_CSC_LINK', 'CSC_LINK', 'AZURE_TENANT_ID');
    return { signed, notarized: false, updatable: signed, missing: signed ? [] : ['WIN_CSC_LINK (+ WIN_CSC_KEY_PASSWORD): an Authenticode certificate'] };
  }
  // Linux packages carry no code signature. Only the release workflow's builds (DMAN_RELEASE_BUILD=1)
  // update themselves: electron-updater checks the download's sha512 from latest-linux.yml, fetched
  // over HTTPS from the release feed.
  const release = env.DMAN_RELEASE_BUILD === '1';
  return { signed: false, notarized: false, updatable: release, missing: release ? [] : ['DMAN_RELEASE_BUILD=1 (set by the release workflow)'] };
}

/** Returns the resources folder of a packed app (inside the .app bundle on macOS). */
function resourcesDir(context) {
  const platform = context.electronPlatformName;
  if (platform === 'darwin' || platform === 'mas') {
    return join(context.appOutDir, `${context.packager.appInfo.productFilename}.app`, 'Contents', 'Resources');
  }
  return join(context.appOutDir, 'resources');
}

/** Writes the build marker and prints whether this build is signed. */
async function afterPack(context, env = process.env, print = (line) => process.stdout.write(`${line}\n`)) {
  const platform = context.electronPlatformName;
  const facts = signingFacts(platform, env);
  // The release workflow sets DMAN_REQUIRE_SIGNED=1: a release must never ship unsigned by accident
  // (a missing secret), so stop before anything is built rather than warn.
  if (env.DMAN_REQUIRE_SIGNED === '1' && platform !== 'linux' && (!facts.signed || ((platform === 'darwin' || platform === 'mas') && !facts.notarized))) {
    throw new Error(`dman: DMAN_REQUIRE_SIGNED=1 but this ${platform} build would not be ${facts.signed ? 'notarized' : 'signed'}; set ${facts.missing.join('; ')}`);
  }
  const marker = {
    signed: facts.signed,
    updatable: facts.updatable,
    platform,
    ...(facts.updatable ? {} : { reason: platform === 'linux' ? 'a local Linux build (not from the release workflow) never updates itself' : 'this build was not code-signed, so it never updates itself' }),
  };
  const dir = resourcesDir(context);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  if (platform === 'linux') {
    print(`  • dman: Linux build, no code signature (Linux packages are not code-signed); auto-update ${facts.updatable ? 'on (release build)' : 'off (not a release build)'}`);
  } else if (facts.signed) {
    print(`  • dman: SIGNED ${platform} build${platform === 'darwin' ? (facts.notarized ? ', will be notarized' : ', NOT notarized (no Apple credentials)') : ''}; auto-update on`);
  } else {
    print(`  • dman: UNSIGNED ${platform} build: installers will not be code-signed and the app never updates itself.`);
    for (const m of facts.missing) print(`    to sign, set ${m}`);
  }
  return marker;
}

module.exports = afterPack;
module.exports.default = afterPack;
module.exports.afterPack = afterPack;
module.exports.signingFacts = signingFacts;
module.exports.MARKER = MARKER;
