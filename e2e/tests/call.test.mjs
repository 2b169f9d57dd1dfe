// Calls by name: answered, declined, and to someone who is not online.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, goOnline, waitForRemoteFrames, remoteNames } from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

async function call(page, user) {
  await page.getByLabel('Username to call').fill(user);
  await page.getByRole('button', { name: 'Call', exact: true }).click();
}

test('a call by name, answered, then hung up', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await goOnline(ann, 'ann1');
  await goOnline(ben, 'ben1');

  await call(ann, 'ben1');
  await ann.getByText('Calling ben1…').waitFor();
  const dialog = ben.getByRole('dialog', { name: 'Incoming call' });
  await dialog.getByText('ann1 is calling').waitFor();
  await dialog.getByRole('button', { name: 'Answer' }).click();

  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.deepEqual(await remoteNames(ann), ['ben1']);
  assert.deepEqual(await remoteNames(ben), ['ann1']);
  assert.equal(await dialog.count(), 0);

  await ann.getByRole('button', { name: 'Leave call' }).click();
  await ben.getByText('Call ended').waitFor();
  await ben.getByLabel('Username to call').waitFor();
  assert.equal(await ben.locator('figure[data-peer]').count(), 0);
  await ann.context().close();
  await ben.context().close();
});

test('a declined call tells the caller', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await goOnline(ann, 'ann2');
  await goOnline(ben, 'ben2');

  await call(ann, 'ben2');
  const dialog = ben.getByRole('dialog', { name: 'Incoming call' });
  await dialog.getByText('ann2 is calling').waitFor();
  await dialog.getByRole('button', { name: 'Decline' }).click();

  await ann.getByText('ben2 declined the call').waitFor();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await ann.getByText('Calling ben2…').count(), 0);
  await ann.context().close();
  await ben.context().close();
});

test('calling a name nobody has registered says they are not online', { timeout: 30_000 }, async () => {
  const ann = await world.person('ann');
  await goOnline(ann, 'ann3');
  await call(ann, 'nobody-here');
  await ann.getByText('nobody-here is not online').waitFor();
  await ann.context().close();
});
