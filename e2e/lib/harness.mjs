// Test harness: one confer server (fresh data dir), one Chromium, one browser context per person.
// Every wait is bounded.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CONFER_BIN = process.env.CONFER_BIN
  ? path.resolve(process.env.CONFER_BIN)
  : path.resolve(here, '../../target/debug/confer');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export const FRAME_TIMEOUT = 20_000;
export const UI_TIMEOUT = 10_000;

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--allow-loopback-in-peer-connection',
];

let unique = 0;
/** A name unique within this run (rooms, usernames). */
export function uniqueName(prefix) {
  unique += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${unique}`;
}

/** Spawns `confer` listening on `listen`; resolves with {child, url, log()} once it prints its URL. */
async function spawnConfer({ listen, dataDir, args, ringTimeout, timeoutMs }) {
  const child = spawn(
    CONFER_BIN,
    // TURN off unless a test asks for it: parallel servers would all want port 3478.
    [
      '--listen', listen, '--data-dir', dataDir, '--ring-timeout', String(ringTimeout),
      // Servers of parallel tests would all want port 3478; a test that needs TURN says where.
      ...(args.includes('--turn-listen') ? [] : ['--turn-listen', 'off']),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' } },
  );
  let log = '';
  let onLog = () => {};
  const append = (chunk) => {
    log = (log + chunk.toString()).slice(-50_000);
    onLog();
  };
  child.stdout.on('data', append); // keep draining so the pipe never fills up
  child.stderr.on('data', append);
  const url = await new Promise((resolve, reject) => {
    let timer = null;
    let onExit = null;
    const finish = (fn, v) => {
      clearTimeout(timer);
      onLog = () => {};
      child.removeListener('exit', onExit);
      fn(v);
    };
    onExit = (code) => finish(reject, new Error(`confer exited with ${code} before it was ready; output:\n${log}`));
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(reject, new Error(`confer did not print its URL within ${timeoutMs} ms; output:\n${log}`));
    }, timeoutMs);
    onLog = () => {
      const m = log.match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) finish(resolve, `http://127.0.0.1:${m[1]}`);
    };
    child.on('error', (e) => finish(reject, e));
    child.on('exit', onExit);
  });
  return { child, url, log: () => log };
}

async function killChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(t);
}

/**
 * Starts `confer` on 127.0.0.1:0 with a fresh data dir; resolves once it prints its URL.
 * `restart()` stops it and starts it again on the same port (for reconnection tests).
 */
export async function startServer({ args = [], ringTimeout = 30, timeoutMs = 15_000, listen = '127.0.0.1:0' } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'confer-e2e-'));
  const opts = { dataDir, args, ringTimeout, timeoutMs };
  let proc;
  try {
    proc = await spawnConfer({ ...opts, listen });
  } catch (e) {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  const url = proc.url;
  return {
    url,
    get log() { return proc.log(); },
    async restart() {
      await killChild(proc.child);
      proc = await spawnConfer({ ...opts, listen: new URL(url).host });
    },
    async kill() {
      await killChild(proc.child);
    },
    async stop() {
      await killChild(proc.child);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Launches Chromium; `extraArgs` replace the default flag of the same name (e.g. fake devices). */
export async function launchBrowser(extraArgs = []) {
  const names = new Set(extraArgs.map((a) => a.split('=')[0]));
  const args = [...CHROMIUM_ARGS.filter((a) => !names.has(a.split('=')[0])), ...extraArgs];
  return chromium.launch({ executablePath: CHROMIUM, args, timeout: 30_000 });
}

/**
 * One world per test: a server, a browser, and helpers to add people (one context each).
 * Call `close()` in a finally block.
 */
export async function setup({ serverArgs = [], ringTimeout = 30, browserArgs = [] } = {}) {
  const server = await startServer({ args: serverArgs, ringTimeout });
  let browser;
  try {
    browser = await launchBrowser(browserArgs);
  } catch (e) {
    await server.stop();
    throw e;
  }
  const contexts = [];
  return {
    server,
    browser,
    url: server.url,
    /** A new person: a fresh browser context (own storage, own camera) with one page. */
    async person(label) {
      const context = await browser.newContext({
        baseURL: server.url,
        permissions: ['camera', 'microphone'],
        viewport: { width: 800, height: 700 },
      });
      context.setDefaultTimeout(UI_TIMEOUT);
      contexts.push(context);
      const page = await context.newPage();
      page.label = label;
      page.on('pageerror', (e) => console.error(`[${label}] page error: ${e.message}`));
      page.on('console', (m) => {
        // A 4xx answer of the accounts API is how a form learns of an error (or that nobody is
        // signed in): expected, not worth a line unless E2E_CONSOLE is set.
        const expected = /^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())
          && /\/api\/(account|calls)\//.test(m.location()?.url || '');
        if ((m.type() === 'error' && !expected) || process.env.E2E_CONSOLE) console.error(`[${label}] ${m.type()}: ${m.text()}`);
      });
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
      await server.stop();
    },
  };
}

/** Records every RTCPeerConnection the page makes in `window.__pcs`, to read its stats. */
export async function recordPeerConnections(page) {
  await page.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    window.__pcs = [];
    window.RTCPeerConnection = class extends Original {
      constructor(...args) {
        super(...args);
        window.__pcs.push(this);
      }
    };
  });
}

/** Opens /r/<room>, types the name and clicks "Join"; waits for the call view. */
export async function joinRoom(page, room, name) {
  await page.goto(`/r/${room}`);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.getByRole('button', { name: 'Leave call' }).waitFor({ timeout: UI_TIMEOUT });
}

/** Home page: set the name and go online; waits for "You can be called as <name>". */
export async function goOnline(page, name) {
  await page.goto('/');
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Go online' }).click();
  await page.getByText(`You can be called as ${name}`).waitFor({ timeout: UI_TIMEOUT });
}

/** What the remote tiles of `page` look like right now (for failure messages). */
export async function describeRemotes(page) {
  return page.evaluate(() => [...document.querySelectorAll('figure[data-peer]')].map((f) => {
    const v = f.querySelector('video');
    return {
      peer: f.dataset.peer,
      state: f.dataset.state,
      name: f.querySelector('figcaption')?.textContent,
      videoWidth: v?.videoWidth,
      currentTime: v?.currentTime,
      readyState: v?.readyState,
      paused: v?.paused,
      tracks: v?.srcObject ? v.srcObject.getTracks().map((t) => `${t.kind}:${t.readyState}${t.muted ? ':muted' : ''}`) : null,
    };
  })).catch((e) => `(could not inspect: ${e.message})`);
}

async function bounded(page, what, fn) {
  try {
    return await fn();
  } catch (e) {
    const remotes = await describeRemotes(page);
    const status = await page.locator('[role="status"]').allTextContents().catch(() => []);
    throw new Error(`[${page.label}] ${what}: ${e.message.split('\n')[0]}\n  remote tiles: ${JSON.stringify(remotes)}\n  status: ${JSON.stringify(status.filter(Boolean))}`);
  }
}

/**
 * Waits until `count` remote videos (figure[data-peer] video) show real frames:
 * videoWidth > 0 and currentTime advancing between two samples.
 */
export async function waitForRemoteFrames(page, count, timeout = FRAME_TIMEOUT) {
  await bounded(page, `waiting for frames from ${count} remote video(s)`, () => page.waitForFunction(
    (n) => {
      const videos = [...document.querySelectorAll('figure[data-peer] video')];
      if (videos.length !== n) return false;
      const seen = (window.__e2eLastTimes ||= new WeakMap());
      let ok = 0;
      for (const v of videos) {
        const prev = seen.get(v);
        seen.set(v, v.currentTime);
        if (v.videoWidth > 0 && prev !== undefined && v.currentTime > prev) ok += 1;
      }
      return ok === n;
    },
    count,
    { timeout, polling: 250 },
  ));
}

/** The captions of the remote figures, sorted. */
export async function remoteNames(page) {
  const names = await page.locator('figure[data-peer] figcaption').allTextContents();
  return names.map((s) => s.trim()).sort();
}

/** Waits until the number of remote figures is `count`. */
export async function waitForRemoteCount(page, count, timeout = FRAME_TIMEOUT) {
  await bounded(page, `waiting for ${count} remote tile(s)`, () => page.waitForFunction(
    (n) => document.querySelectorAll('figure[data-peer]').length === n,
    count,
    { timeout, polling: 200 },
  ));
}

// ---------------------------------------------------------------- mail

/**
 * Starts lib/smtp_sink.py (Python with aiosmtpd) on a free 127.0.0.1 port.
 * Resolves with {port, smtpUrl, waitForMail(predicate, timeout), stop()}.
 */
export async function startSmtpSink({ timeoutMs = 15_000 } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'confer-mail-'));
  const child = spawn(process.env.CONFER_PYTHON || 'python3', [path.join(here, 'smtp_sink.py'), dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr.on('data', (c) => { out = (out + c.toString()).slice(-20_000); });
  let port;
  try {
    port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the SMTP sink did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
      child.stdout.on('data', (c) => {
        out += c.toString();
        const m = out.match(/READY (\d+)/);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the SMTP sink exited with ${code} (is aiosmtpd installed? pip install -r e2e/requirements.txt):\n${out}`));
      });
    });
  } catch (e) {
    await killChild(child);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  child.stdout.on('data', () => {}); // keep draining

  async function messages() {
    const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
    return Promise.all(names.map(async (n) => JSON.parse(await readFile(path.join(dir, n), 'utf8'))));
  }

  return {
    port,
    dir,
    smtpUrl: `smtp://127.0.0.1:${port}?tls=none`,
    messages,
    /** Waits for a received message (decoded: {from, to, subject, text}) that `predicate` accepts. */
    async waitForMail(predicate, timeout = UI_TIMEOUT) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const found = (await messages()).find(predicate);
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(`no matching mail within ${timeout} ms; received: ${JSON.stringify(await messages())}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await killChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- accounts

/** /signup: fills the form and waits for the home page saying "Signed in as <username>". */
export async function signUp(page, { username, email, password }) {
  await page.goto('/signup');
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Confirm password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${username}`, { exact: true }).waitFor({ timeout: UI_TIMEOUT });
}

/** /signin: fills the form and submits (does not wait for the outcome). */
export async function submitSignIn(page, login, password) {
  await page.goto('/signin');
  await page.getByLabel('Username or email', { exact: true }).fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Signs in and waits for "Signed in as <username>" on the home page. */
export async function signIn(page, login, password, username = login) {
  await submitSignIn(page, login, password);
  await page.getByText(`Signed in as ${username}`, { exact: true }).waitFor({ timeout: UI_TIMEOUT });
}

/** Home page "Sign out"; waits for the signed-out home page. */
export async function signOut(page) {
  if (new URL(page.url()).pathname !== '/') await page.goto('/');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in', exact: true }).waitFor({ timeout: UI_TIMEOUT });
}
