// `npm test`'s pretest: the console's browser test (test/browser.test.ts) drives Chromium at
// CHROMIUM_PATH, else /usr/bin/chromium. When it is missing, install Debian's `chromium` package with
// apt-get if this user may (root, or sudo without a password; non-interactive); otherwise print one
// line saying what to run. Never fails by default: without Chromium the browser suite is reported as
// skipped, with the reason. `--require` (used by .ci/run) exits 1 instead, so CI never skips it.
// NEOCLOUD_SKIP_CHROMIUM_INSTALL=1 leaves the system alone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const DEFAULT_PATH = '/usr/bin/chromium';
const path = process.env['CHROMIUM_PATH'] || DEFAULT_PATH;
const required = process.argv.includes('--require');

/** Prints why the browser test cannot run and what to do; exits 1 only under --require. */
function giveUp(line) {
  console.error(`neocloud: ${line}`);
  process.exit(required ? 1 : 0);
}

if (existsSync(path)) process.exit(0);
const skipped = required ? 'the browser test cannot run' : 'the browser test will be skipped';
if (process.env['CHROMIUM_PATH']) giveUp(`CHROMIUM_PATH=${path} does not exist, so ${skipped}; point it at a Chromium executable or unset it to use ${DEFAULT_PATH}`);
const hint = `no Chromium at ${DEFAULT_PATH}, so ${skipped}; install it with \`sudo apt-get install -y chromium\` (Debian) or set CHROMIUM_PATH`;
if (process.env['NEOCLOUD_SKIP_CHROMIUM_INSTALL']) giveUp(hint);
if (!existsSync('/usr/bin/apt-get')) giveUp(`no Chromium at ${DEFAULT_PATH}, so ${skipped}; install Chromium and set CHROMIUM_PATH to its executable`);

const asRoot = process.getuid?.() === 0;
const sudo = !asRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
if (!asRoot && !sudo) giveUp(hint);

/** Runs apt-get (through `sudo -n` unless root) with dpkg's chatter on stdout dropped; true on success. */
function aptGet(...args) {
  const cmd = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
  const [file, ...rest] = asRoot ? cmd : ['sudo', '-n', ...cmd];
  return spawnSync(file, rest, { stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
}

console.error(`neocloud: installing Chromium for the browser test (${asRoot ? '' : 'sudo '}apt-get install chromium)…`);
if (!aptGet('update', '-qq') || !aptGet('install', '-y', '-qq', 'chromium') || !existsSync(DEFAULT_PATH)) {
  giveUp(`could not install Debian's chromium package, so ${skipped}; install Chromium and set CHROMIUM_PATH`);
}
console.error(`neocloud: Chromium installed at ${DEFAULT_PATH}`);
