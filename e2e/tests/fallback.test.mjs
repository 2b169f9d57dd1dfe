// Signaling over the HTTP fallback: a page whose WebSockets are refused (as behind a proxy
// that blocks them) switches to server-sent events + POST by itself, and the call works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, joinRoom, waitForRemoteFrames, remoteNames, uniqueName } from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

test('a page that cannot open WebSockets still joins a call', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  // Every WebSocket Ann's page opens to /ws is closed at once, before the server sees it.
  let refused = 0;
  await ann.context().routeWebSocket(/\/ws$/, (ws) => {
    refused += 1;
    ws.close({ code: 1008, reason: 'blocked by a test proxy' });
  });
  const room = uniqueName('fallback');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['Ben']);
  assert.deepEqual(await remoteNames(ben), ['Ann']);
  assert.ok(refused >= 2, `WebSockets were tried first (${refused})`);
  assert.equal(await ann.evaluate(() => document.documentElement.dataset.signaling), 'http');
  assert.equal(await ben.evaluate(() => document.documentElement.dataset.signaling), 'websocket');

  // Leaving over the fallback reaches the other side too.
  await ann.getByRole('button', { name: 'Leave call' }).click();
  await ben.locator('figure[data-peer]').waitFor({ state: 'detached' });
  await ann.context().close();
  await ben.context().close();
});
