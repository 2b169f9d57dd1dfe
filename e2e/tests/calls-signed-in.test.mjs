// Calls between signed-in people: by username from the home page, then from "Recent calls".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, signUp, waitForRemoteFrames, remoteNames, UI_TIMEOUT } from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

/** Opens /calls until a row about `other` shows up (the call log is written as the call ends). */
async function recentCallRow(page, other, timeout = UI_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    await page.goto('/calls');
    const row = page.getByRole('listitem').filter({ has: page.getByRole('button', { name: `Call ${other}` }) });
    try {
      await row.first().waitFor({ timeout: 1_000 });
      return row.first();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`no recent call with ${other} within ${timeout} ms`, { cause: e });
    }
  }
}

test('signed-in people call each other by username; the call is in "Recent calls"', { timeout: 90_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await signUp(ann, { username: 'ann', email: 'ann@example.org', password: 'ann-password-1' });
  await signUp(ben, { username: 'ben', email: 'ben@example.org', password: 'ben-password-1' });
  await ben.getByText('You can be called as ben').waitFor();
  await ann.getByText('You can be called as ann').waitFor();

  await ann.getByLabel('Username to call').fill('ben');
  await ann.getByRole('button', { name: 'Call', exact: true }).click();
  await ann.getByText('Calling ben…').waitFor();
  const dialog = ben.getByRole('dialog', { name: 'Incoming call' });
  await dialog.getByText('ann is calling').waitFor();
  await dialog.getByRole('button', { name: 'Answer' }).click();

  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['ben']);
  assert.deepEqual(await remoteNames(ben), ['ann']);

  await ann.getByRole('button', { name: 'Leave call' }).click();
  await ben.getByText('Call ended').waitFor();
  await ann.getByRole('link', { name: 'Recent calls' }).waitFor();

  const row = await recentCallRow(ann, 'ben');
  const text = await row.textContent();
  assert.match(text, /Outgoing call to\s*ben/);
  assert.match(text, /Answered/);
  assert.equal(await row.locator('time').count(), 1);

  const benRow = await recentCallRow(ben, 'ann');
  assert.match(await benRow.textContent(), /Incoming call from\s*ann.*Answered/s);
  await ben.goto('/');
  await ben.getByText('You can be called as ben').waitFor();

  // "Call ben" goes home and rings Ben again.
  await row.getByRole('button', { name: 'Call ben' }).click();
  await ann.getByText('Calling ben…').waitFor();
  assert.equal(new URL(ann.url()).pathname, '/');
  assert.equal(await ann.getByLabel('Username to call').inputValue(), 'ben');
  await dialog.getByText('ann is calling').waitFor();
  await dialog.getByRole('button', { name: 'Decline' }).click();
  await ann.getByText('ben declined the call').waitFor();

  await ann.context().close();
  await ben.context().close();
});
