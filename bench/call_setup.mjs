// Browser call-setup benchmark (issue 7): how long from the second person's click on "Join"
// until the first remote video frame is shown on BOTH sides, next to the in-page limit
// measured in the same run (two RTCPeerConnections in one page, wired directly).
//
//   node bench/call_setup.mjs [--calls N] [--bin PATH] [--smoke] [--json]
//
// - Starts its own `confer` (default target/release/confer; `--bin` or CONFER_BIN override) on
//   127.0.0.1:0 with a fresh data_dir, through the e2e harness (e2e/lib/harness.mjs; run
//   `npm ci` in e2e/ first), and one Chromium (/usr/bin/chromium or CHROMIUM_BIN) with the
//   e2e flags (fake camera and microphone, loopback ICE).
// - One call: two fresh browser contexts; A joins room R and waits for the call view; B opens
//   /r/R, waits until its camera preview shows frames (as a person would see it), then clicks
//   "Join". Every page records, in page time `performance.timeOrigin + performance.now()`
//   (comparable between pages of one browser): the click on "Join", and the first frame of
//   any remote video (`figure[data-peer] video`, via requestVideoFrameCallback). Call setup =
//   max(first remote frame on A, first remote frame on B) − B's click.
// - The in-page limit: one page (same origin, so getUserMedia is allowed), getUserMedia with
//   the fake devices and the app's constraints first (outside the timer: the app's prejoin
//   screen has the camera open before "Join" too), then two RTCPeerConnections that both send
//   audio+video, exchange offer/answer and candidates directly in JS; timer from creating the
//   connections to the first frame of the remote video on both sides (requestVideoFrameCallback).
// - Calls and limit runs alternate, so both see the same machine load.
// - Bounds: every wait has a timeout (20 s per call side, 30 s browser launch); the whole run
//   is capped by --duration seconds (default 300).
// - `--smoke`: one call and one limit run (scripts/test-all.sh runs this; no figure is checked).
// Network: the server listens on 127.0.0.1 only; run it inside `unshare --net` (loopback only)
// as scripts/test-all.sh does so that WebRTC cannot use any other interface.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { calls: 10, bin: null, smoke: false, json: false, duration: 300 };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      i += 1;
      return argv[i];
    };
    if (a === '--calls') opts.calls = Number(next());
    else if (a === '--bin') opts.bin = next();
    else if (a === '--duration') opts.duration = Number(next());
    else if (a === '--smoke') opts.smoke = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node bench/call_setup.mjs [--calls N (10)] [--bin PATH (target/release/confer)] [--duration S (300)] [--smoke] [--json]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (opts.smoke) opts.calls = 1;
  if (!Number.isInteger(opts.calls) || opts.calls < 1 || opts.calls > 200) throw new Error('--calls must be 1..200');
  if (!(opts.duration > 0 && opts.duration <= 3600)) throw new Error('--duration must be 1..3600 s');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
process.env.CONFER_BIN = path.resolve(opts.bin || process.env.CONFER_BIN || path.join(here, '../target/release/confer'));
// The harness reads CONFER_BIN when it is loaded.
const { startServer, launchBrowser, uniqueName, describeRemotes } = await import('../e2e/lib/harness.mjs');

const SIDE_TIMEOUT = 20_000;

// Installed in every page before its scripts run: timestamps of the click on "Join" and of the
// first frame of any remote video.
function recorder() {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = { joinClickAt: null, firstRemoteFrameAt: null };
  document.addEventListener('click', (e) => {
    const b = e.target instanceof Element ? e.target.closest('button') : null;
    if (b && b.textContent.trim() === 'Join' && window.__bench.joinClickAt === null) {
      window.__bench.joinClickAt = now();
    }
  }, true);
  const hooked = new WeakSet();
  const hook = (v) => {
    if (!(v instanceof HTMLVideoElement) || hooked.has(v) || !v.closest('figure[data-peer]')) return;
    hooked.add(v);
    v.requestVideoFrameCallback(() => {
      if (window.__bench.firstRemoteFrameAt === null) window.__bench.firstRemoteFrameAt = now();
    });
  };
  // Media events do not bubble, but capturing listeners on document see them.
  for (const type of ['loadstart', 'loadedmetadata', 'play']) {
    document.addEventListener(type, (e) => hook(e.target), true);
  }
}

async function newPerson(browser, url, label) {
  const context = await browser.newContext({
    baseURL: url, permissions: ['camera', 'microphone'], viewport: { width: 800, height: 700 },
  });
  context.setDefaultTimeout(SIDE_TIMEOUT);
  await context.addInitScript(recorder);
  const page = await context.newPage();
  page.label = label;
  page.on('pageerror', (e) => console.error(`[${label}] page error: ${e.message}`));
  return { context, page };
}

async function firstFrameAt(page) {
  try {
    const h = await page.waitForFunction(() => window.__bench.firstRemoteFrameAt, null, { timeout: SIDE_TIMEOUT, polling: 20 });
    return await h.jsonValue();
  } catch (e) {
    throw new Error(`[${page.label}] no remote frame within ${SIDE_TIMEOUT} ms: ${e.message.split('\n')[0]}; tiles ${JSON.stringify(await describeRemotes(page))}`);
  }
}

async function oneCall(browser, url) {
  const room = uniqueName('bench');
  const a = await newPerson(browser, url, 'A');
  const b = await newPerson(browser, url, 'B');
  try {
    await a.page.goto(`/r/${room}`);
    await a.page.getByLabel('Your name').fill('Ann');
    await a.page.getByRole('button', { name: 'Join', exact: true }).click();
    await a.page.getByRole('button', { name: 'Leave call' }).waitFor();

    await b.page.goto(`/r/${room}`);
    await b.page.getByLabel('Your name').fill('Ben');
    // B's camera is on before the click, as for a person looking at the preview.
    await b.page.waitForFunction(() => {
      const v = document.querySelector('video.preview');
      return v && v.videoWidth > 0 && v.currentTime > 0;
    }, null, { timeout: SIDE_TIMEOUT, polling: 20 });
    await b.page.getByRole('button', { name: 'Join', exact: true }).click();
    const [atA, atB] = await Promise.all([firstFrameAt(a.page), firstFrameAt(b.page)]);
    const click = await b.page.evaluate(() => window.__bench.joinClickAt);
    if (click === null) throw new Error('the click on "Join" was not recorded');
    return { a: atA - click, b: atB - click, both: Math.max(atA, atB) - click };
  } finally {
    await a.context.close().catch(() => {});
    await b.context.close().catch(() => {});
  }
}

// Runs in the page: the lower bound for this browser on this machine.
async function inPageLimit() {
  const now = () => performance.timeOrigin + performance.now();
  const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms));
  const g0 = now();
  const media = () => navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
  const s1 = await media();
  const s2 = await media();
  const gum = now() - g0;
  const t0 = now();
  const pc1 = new RTCPeerConnection();
  const pc2 = new RTCPeerConnection();
  pc1.onicecandidate = (e) => { if (e.candidate) pc2.addIceCandidate(e.candidate).catch(() => {}); };
  pc2.onicecandidate = (e) => { if (e.candidate) pc1.addIceCandidate(e.candidate).catch(() => {}); };
  const firstFrame = (pc) => new Promise((resolve) => {
    pc.ontrack = (e) => {
      if (e.track.kind !== 'video') return;
      const v = document.createElement('video');
      v.muted = true;
      v.playsInline = true;
      v.autoplay = true;
      document.body.append(v);
      v.srcObject = e.streams[0] || new MediaStream([e.track]);
      v.requestVideoFrameCallback(() => resolve(now()));
      v.play().catch(() => {});
    };
  });
  const f1 = firstFrame(pc1);
  const f2 = firstFrame(pc2);
  for (const t of s1.getTracks()) pc1.addTrack(t, s1);
  for (const t of s2.getTracks()) pc2.addTrack(t, s2);
  await pc1.setLocalDescription();
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription();
  await pc1.setRemoteDescription(pc2.localDescription);
  const [at1, at2] = await Promise.race([Promise.all([f1, f2]), timeout(20_000, 'no frame')]);
  const result = { both: Math.max(at1, at2) - t0, gum };
  pc1.close();
  pc2.close();
  for (const t of [...s1.getTracks(), ...s2.getTracks()]) t.stop();
  document.querySelectorAll('video').forEach((v) => v.remove());
  return result;
}

async function limitOnce(browser, url) {
  const context = await browser.newContext({ baseURL: url, permissions: ['camera', 'microphone'] });
  try {
    const page = await context.newPage();
    await page.goto('/');
    return await page.evaluate(inPageLimit);
  } finally {
    await context.close().catch(() => {});
  }
}

function quantile(xs, q) {
  const s = [...xs].sort((x, y) => x - y);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}
const ms = (x) => `${x.toFixed(1)} ms`;

async function main() {
  const started = Date.now();
  const deadline = started + opts.duration * 1000;
  const server = await startServer({ timeoutMs: 15_000 });
  let browser;
  const calls = [];
  const limits = [];
  let stop = null;
  const guard = setTimeout(() => { stop = `--duration ${opts.duration} s reached`; }, opts.duration * 1000);
  try {
    browser = await launchBrowser();
    // One warm-up of each, not counted: the first page of a browser pays for process start.
    if (!opts.smoke) {
      await limitOnce(browser, server.url);
      await oneCall(browser, server.url);
    }
    for (let i = 0; i < opts.calls && stop === null && Date.now() < deadline; i += 1) {
      limits.push(await limitOnce(browser, server.url));
      calls.push(await oneCall(browser, server.url));
    }
  } finally {
    clearTimeout(guard);
    await browser?.close().catch(() => {});
    await server.stop();
  }
  const both = calls.map((c) => c.both);
  const limit = limits.map((l) => l.both);
  const report = {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    server: process.env.CONFER_BIN,
    browser: browser?.version?.() ?? null,
    calls: calls.length,
    call_setup_ms: { median: quantile(both, 0.5), p90: quantile(both, 0.9), max: Math.max(...both) },
    side_a_ms: { median: quantile(calls.map((c) => c.a), 0.5) },
    side_b_ms: { median: quantile(calls.map((c) => c.b), 0.5) },
    in_page_limit_ms: { median: quantile(limit, 0.5), p90: quantile(limit, 0.9), max: Math.max(...limit) },
    get_user_media_ms: { median: quantile(limits.map((l) => l.gum), 0.5) },
    ratio_median: quantile(both, 0.5) / quantile(limit, 0.5),
    stopped: stop,
    samples: { calls, limits },
  };
  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`call setup, second person's "Join" click → first remote frame on both sides (${calls.length} calls)`);
  console.log(`  server ${report.server}; ${report.cpus} CPUs; load average ${report.loadavg.join(' ')}; ${report.date}`);
  console.log(`  call setup     median ${ms(report.call_setup_ms.median)}  p90 ${ms(report.call_setup_ms.p90)}  max ${ms(report.call_setup_ms.max)}`);
  console.log(`    (A, already in the room: median ${ms(report.side_a_ms.median)}; B, who clicked: median ${ms(report.side_b_ms.median)})`);
  console.log(`  in-page limit  median ${ms(report.in_page_limit_ms.median)}  p90 ${ms(report.in_page_limit_ms.p90)}  max ${ms(report.in_page_limit_ms.max)}  (two RTCPeerConnections in one page; getUserMedia before the timer, median ${ms(report.get_user_media_ms.median)} for two streams)`);
  console.log(`  ratio of medians ${report.ratio_median.toFixed(2)}× (target ≤ 2×)`);
  if (stop) console.log(`  stopped early: ${stop}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
