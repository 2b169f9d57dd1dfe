// Mesh rooms: two and three people see each other's real video; leaving removes the tile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, joinRoom, waitForRemoteFrames, waitForRemoteCount, remoteNames, uniqueName,
} from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

test('two people in a room see and hear each other', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  // Ann creates a room from the home page…
  await ann.goto('/');
  await ann.getByRole('button', { name: 'Create room' }).click();
  await ann.waitForURL(/\/r\/[a-z]+-[a-z]+-\d+$/);
  const room = new URL(ann.url()).pathname.slice('/r/'.length);
  await ann.locator('video.preview').waitFor();
  await ann.getByLabel('Your name').fill('Ann');
  await ann.getByRole('button', { name: 'Join', exact: true }).click();
  await ann.getByRole('button', { name: 'Leave call' }).waitFor();
  // …and Ben types its name on his home page.
  await ben.goto('/');
  await ben.getByLabel('Room name').fill(room);
  await ben.getByRole('button', { name: 'Join room' }).click();
  await ben.waitForURL(`**/r/${room}`);
  await ben.getByLabel('Your name').fill('Ben');
  await ben.getByRole('button', { name: 'Join', exact: true }).click();
  await ben.getByRole('button', { name: 'Leave call' }).waitFor();

  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['Ben']);
  assert.deepEqual(await remoteNames(ben), ['Ann']);
  // the self view is there, muted, and captioned as you
  assert.equal(await ann.locator('figure:not([data-peer]) figcaption').textContent(), 'Ann (you)');
  assert.equal(await ann.locator('figure:not([data-peer]) video').evaluate((v) => v.muted), true);
  await ann.context().close();
  await ben.context().close();
});

test('three people form a full mesh', { timeout: 90_000 }, async () => {
  const room = uniqueName('mesh');
  const people = [];
  for (const name of ['Ann', 'Ben', 'Cat']) {
    const page = await world.person(name);
    await joinRoom(page, room, name);
    people.push(page);
  }
  await Promise.all(people.map((p) => waitForRemoteFrames(p, 2)));
  assert.deepEqual(await remoteNames(people[0]), ['Ben', 'Cat']);
  assert.deepEqual(await remoteNames(people[1]), ['Ann', 'Cat']);
  assert.deepEqual(await remoteNames(people[2]), ['Ann', 'Ben']);
  for (const p of people) await p.context().close();
});

test('leaving removes the tile for the others', { timeout: 90_000 }, async () => {
  const room = uniqueName('leave');
  const people = [];
  for (const name of ['Ann', 'Ben', 'Cat']) {
    const page = await world.person(name);
    await joinRoom(page, room, name);
    people.push(page);
  }
  const [ann, ben, cat] = people;
  await Promise.all([waitForRemoteCount(ann, 2), waitForRemoteCount(ben, 2), waitForRemoteCount(cat, 2)]);

  await cat.getByRole('button', { name: 'Leave call' }).click();
  await Promise.all([waitForRemoteCount(ann, 1), waitForRemoteCount(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['Ben']);
  assert.deepEqual(await remoteNames(ben), ['Ann']);
  // the one who left is back on the pre-join screen
  await cat.getByRole('button', { name: 'Join', exact: true }).waitFor();
  // and the two who stayed still get video
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  for (const p of people) await p.context().close();
});
