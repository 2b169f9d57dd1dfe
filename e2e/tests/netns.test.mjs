// Two homes that cannot reach each other, both reaching the Confer host: the call can only
// connect through the embedded TURN server. Each home is a network namespace made by this
// test, joined to the test's own namespace (the Confer host, which does not forward) by a
// veth pair. Skipped, with the reason, where namespaces cannot be made.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  startServer, CHROMIUM_ARGS, UI_TIMEOUT, waitForRemoteFrames, uniqueName, recordPeerConnections,
} from '../lib/harness.mjs';

const tag = String(process.pid % 100000);
const homes = [
  { ns: `cfa${tag}`, hostIf: `vha${tag}`, homeIf: `vga${tag}`, host: '10.201.1.1', addr: '10.201.1.2' },
  { ns: `cfb${tag}`, hostIf: `vhb${tag}`, homeIf: `vgb${tag}`, host: '10.201.2.1', addr: '10.201.2.2' },
];
const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function makeHomes() {
  for (const h of homes) {
    ip('netns', 'add', h.ns);
    ip('link', 'add', h.hostIf, 'type', 'veth', 'peer', 'name', h.homeIf);
    ip('link', 'set', h.homeIf, 'netns', h.ns);
    ip('addr', 'add', `${h.host}/24`, 'dev', h.hostIf);
    ip('link', 'set', h.hostIf, 'up');
    ip('netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.addr}/24`, 'dev', h.homeIf);
    ip('netns', 'exec', h.ns, 'ip', 'link', 'set', h.homeIf, 'up');
    ip('netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up');
  }
}

function removeHomes() {
  for (const h of homes) {
    try { ip('netns', 'del', h.ns); } catch { /* already gone */ }
    try { ip('link', 'del', h.hostIf); } catch { /* went with the namespace */ }
  }
}

let skip = null;
let server;
let workDir;
const browsers = [];

before(async () => {
  try {
    makeHomes();
  } catch (e) {
    skip = `cannot create network namespaces here (${String(e.stderr || e.message).trim()})`;
    removeHomes();
    return;
  }
  workDir = await mkdtemp(path.join(tmpdir(), 'confer-netns-'));
  server = await startServer({
    listen: '0.0.0.0:0',
    // Like home routers, the homes accept nothing unsolicited: TURN may relay only between
    // its own relayed addresses on the Confer host.
    args: ['--turn-listen', '0.0.0.0:0', '--turn-allowed-peers', '10.201.1.1/32,10.201.2.1/32'],
  });
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await server?.stop();
  removeHomes();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A person in `home`: their own Chromium, running inside that home's namespace. */
async function personIn(home, port) {
  const wrapper = path.join(workDir, `chromium-${home.ns}`);
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${home.ns} /usr/bin/chromium "$@"\n`);
  await chmod(wrapper, 0o755);
  const origin = `http://${home.host}:${port}`;
  const browser = await chromium.launch({
    executablePath: wrapper,
    // The page is plain HTTP on a private address: let it use the (fake) camera anyway.
    args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origin}`],
    timeout: 30_000,
  });
  browsers.push(browser);
  const context = await browser.newContext({ baseURL: origin, permissions: ['camera', 'microphone'] });
  context.setDefaultTimeout(UI_TIMEOUT);
  const page = await context.newPage();
  await recordPeerConnections(page);
  page.label = home.ns;
  return page;
}

async function selectedTypes(page) {
  return page.evaluate(async () => {
    for (const pc of window.__pcs) {
      if (pc.connectionState !== 'connected') continue;
      const stats = await pc.getStats();
      let id = null;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) id = s.selectedCandidatePairId; });
      const pair = id && stats.get(id);
      if (pair) return [stats.get(pair.localCandidateId)?.candidateType, stats.get(pair.remoteCandidateId)?.candidateType];
    }
    return null;
  });
}

test('two homes that cannot reach each other talk through TURN', { timeout: 90_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  // The homes really are cut off from each other.
  const ping = (h, to) => execFileSync('ip', ['netns', 'exec', h.ns, 'ping', '-c1', '-W1', to], { stdio: 'ignore' });
  ping(homes[0], homes[0].host); // each home reaches the Confer host…
  ping(homes[1], homes[1].host);
  assert.throws(() => ping(homes[0], homes[1].addr), 'but not the other home');
  const port = new URL(server.url).port;
  const ann = await personIn(homes[0], port);
  const ben = await personIn(homes[1], port);
  const room = uniqueName('homes');
  for (const [page, name] of [[ann, 'Ann'], [ben, 'Ben']]) {
    await page.goto(`/r/${room}`);
    await page.getByLabel('Your name').fill(name);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.getByRole('button', { name: 'Leave call' }).waitFor();
  }
  await Promise.all([waitForRemoteFrames(ann, 1, 40_000), waitForRemoteFrames(ben, 1, 40_000)]);
  // Host candidates (10.201.1.2 ↔ 10.201.2.2) cannot work: the pair in use is relayed.
  for (const page of [ann, ben]) {
    const types = await selectedTypes(page);
    assert.ok(types && types.includes('relay'), `${page.label}: selected pair ${JSON.stringify(types)}`);
  }
});
