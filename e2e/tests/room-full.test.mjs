// A room at capacity turns the next person away with a clear message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, joinRoom, waitForRemoteCount, uniqueName } from '../lib/harness.mjs';

let world;
before(async () => { world = await setup({ serverArgs: ['--room-capacity', '2'] }); });
after(async () => { await world?.close(); });

test('a third person cannot join a room of capacity 2', { timeout: 60_000 }, async () => {
  const room = uniqueName('full');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  const cat = await world.person('cat');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await waitForRemoteCount(ann, 1);

  await cat.goto(`/r/${room}`);
  await cat.getByLabel('Your name').fill('Cat');
  await cat.getByRole('button', { name: 'Join', exact: true }).click();
  await cat.getByText('This room is full (2 people)').waitFor();
  assert.equal(await cat.getByRole('button', { name: 'Leave call' }).count(), 0);
  // the two inside are not disturbed
  assert.equal(await ann.locator('figure[data-peer]').count(), 1);
});
