// When the signaling connection drops, the client says so, reconnects with back-off,
// re-registers its name and re-joins its room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, joinRoom, goOnline, waitForRemoteFrames, remoteNames, uniqueName,
} from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

test('a server restart: "Connection lost", then back in the room with video', { timeout: 90_000 }, async () => {
  const room = uniqueName('again');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  const cat = await world.person('cat');
  await goOnline(cat, 'cat');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  const benIdBefore = await ann.locator('figure[data-peer]').getAttribute('data-peer');

  await world.server.kill();
  await Promise.all([ann, ben, cat].map((p) => p.getByText('Connection lost — reconnecting…').waitFor()));

  await world.server.restart();
  await Promise.all([ann, ben, cat].map((p) => p.getByText('Connection lost — reconnecting…')
    .waitFor({ state: 'hidden', timeout: 20_000 })));
  await cat.getByText('You can be called as cat').waitFor();
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['Ben']);
  assert.deepEqual(await remoteNames(ben), ['Ann']);
  // a fresh peer connection to Ben's new connection, not the old one
  assert.notEqual(await ann.locator('figure[data-peer]').getAttribute('data-peer'), benIdBefore);
});
