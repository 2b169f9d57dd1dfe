// Rooms that belong to someone: a password set by the first person in, the host's lock, the
// host removing someone, and the host's controls moving on when the host leaves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, joinRoom, waitForRemoteFrames, waitForRemoteCount, remoteNames, uniqueName, UI_TIMEOUT,
} from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

/** Waits until the notice area says `text` (a substring). */
async function notice(page, text) {
  await page.locator('#notice', { hasText: text }).waitFor({ timeout: UI_TIMEOUT });
}

/** On the pre-join screen: fills name and password (if any) and clicks "Join"; does not wait. */
async function submitJoin(page, name, password) {
  await page.getByLabel('Your name').fill(name);
  if (password !== undefined) await page.getByLabel('Room password').fill(password);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
}

async function inCall(page) {
  await page.getByRole('button', { name: 'Leave call' }).waitFor({ timeout: UI_TIMEOUT });
}

test('the first person sets a password; the next is asked for it and gets in with it', { timeout: 90_000 }, async () => {
  const room = uniqueName('secret');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ann.goto(`/r/${room}`);
  await submitJoin(ann, 'Ann', 'open sesame');
  await inCall(ann);

  await ben.goto(`/r/${room}`);
  // No password: told the room has one, at the field too.
  await submitJoin(ben, 'Ben');
  await notice(ben, 'This room has a password — enter it to join');
  const field = ben.getByLabel('Room password');
  assert.equal(await field.getAttribute('aria-invalid'), 'true');
  assert.equal(await field.evaluate((el) => el === document.activeElement), true, 'focus moves to the password');
  // A wrong one: told so, still outside.
  await submitJoin(ben, 'Ben', 'open barley');
  await notice(ben, 'Wrong room password');
  assert.equal(await ben.getByRole('button', { name: 'Leave call' }).count(), 0);
  await waitForRemoteCount(ann, 0);
  // The right one: in, and media flows both ways.
  await submitJoin(ben, 'Ben', 'open sesame');
  await inCall(ben);
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['Ben']);
  assert.deepEqual(await remoteNames(ben), ['Ann']);
  await ann.context().close();
  await ben.context().close();
});

test('the host locks the room: a newcomer is refused until the host unlocks it', { timeout: 90_000 }, async () => {
  const room = uniqueName('lock');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  const cat = await world.person('cat');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteCount(ann, 1), waitForRemoteCount(ben, 1)]);

  // Only the host (the first in) has the control; it is a toggle button.
  const lock = ann.getByRole('button', { name: 'Lock room', exact: true });
  await lock.waitFor();
  assert.equal(await lock.getAttribute('aria-pressed'), 'false');
  assert.equal(await ben.getByRole('button', { name: /lock room/i }).count(), 0);
  // Keyboard: focus the button and press Enter.
  await lock.focus();
  await ann.keyboard.press('Enter');
  const unlock = ann.getByRole('button', { name: 'Unlock room', exact: true });
  await unlock.waitFor();
  assert.equal(await unlock.getAttribute('aria-pressed'), 'true');
  // Everyone sees that the room is locked.
  await ben.getByText('Room locked by the host').waitFor();
  await ann.getByText('Room locked — nobody new can join').waitFor();

  await cat.goto(`/r/${room}`);
  await submitJoin(cat, 'Cat');
  await notice(cat, 'This room is locked');
  assert.equal(await cat.getByRole('button', { name: 'Leave call' }).count(), 0);
  assert.equal(await ann.locator('figure[data-peer]').count(), 1);

  await unlock.click();
  await lock.waitFor();
  assert.equal(await lock.getAttribute('aria-pressed'), 'false');
  await ben.getByText('Room locked by the host').waitFor({ state: 'detached' });
  await submitJoin(cat, 'Cat');
  await inCall(cat);
  await Promise.all([waitForRemoteFrames(ann, 2), waitForRemoteFrames(ben, 2), waitForRemoteFrames(cat, 2)]);
  assert.deepEqual(await remoteNames(cat), ['Ann', 'Ben']);
  for (const p of [ann, ben, cat]) await p.context().close();
});

test('the host removes someone: they are told, and their tile goes for everyone', { timeout: 90_000 }, async () => {
  const room = uniqueName('remove');
  const people = [];
  for (const name of ['Ann', 'Ben', 'Cat']) {
    const page = await world.person(name);
    await joinRoom(page, room, name);
    people.push(page);
  }
  const [ann, ben, cat] = people;
  await Promise.all(people.map((p) => waitForRemoteCount(p, 2)));

  // "Remove" is on the host's remote tiles only.
  await ann.getByRole('button', { name: 'Remove Cat from the room' }).waitFor();
  assert.equal(await ann.getByRole('button', { name: /^Remove .* from the room$/ }).count(), 2);
  assert.equal(await ben.getByRole('button', { name: /^Remove .* from the room$/ }).count(), 0);
  assert.equal(await cat.getByRole('button', { name: /^Remove .* from the room$/ }).count(), 0);

  await ann.getByRole('button', { name: 'Remove Cat from the room' }).click();
  await notice(cat, 'The host removed you from the room');
  await cat.getByRole('button', { name: 'Join', exact: true }).waitFor();
  assert.equal(await cat.locator('figure[data-peer]').count(), 0);
  await Promise.all([waitForRemoteCount(ann, 1), waitForRemoteCount(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['Ben']);
  assert.deepEqual(await remoteNames(ben), ['Ann']);
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);

  // The host leaves: Ben is the host now and gets the controls.
  await ann.getByRole('button', { name: 'Leave call' }).click();
  await waitForRemoteCount(ben, 0);
  await ben.getByRole('button', { name: 'Lock room', exact: true }).waitFor();
  await notice(ben, 'You are now the host of this room');
  for (const p of people) await p.context().close();
});
