// Takes the README screenshots of the call page: a two-person room with the chat open, at
// desktop (1280×800) and phone (390×844) widths. Run it like the tests:
//   cd e2e && CONFER_BIN=../target/debug/confer unshare --net sh -c 'ip link set lo up && node screenshots.mjs'
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setup, joinRoom, waitForRemoteFrames, uniqueName } from './lib/harness.mjs';

const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/screenshots');
const world = await setup();
try {
  const room = uniqueName('demo').slice(0, 40);
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  await ben.getByRole('button', { name: 'Mute microphone' }).click();
  await ben.getByRole('button', { name: 'Chat', exact: true }).click();
  await ben.getByRole('textbox', { name: 'Message' }).fill('Hi Ann! Slides are at https://example.com/deck');
  await ben.getByRole('button', { name: 'Send', exact: true }).click();
  await ann.getByRole('button', { name: 'Chat', exact: true }).locator('.count').waitFor();

  await ann.setViewportSize({ width: 1280, height: 800 });
  await ann.getByRole('button', { name: 'Chat', exact: true }).click();
  await ann.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor();
  await ann.waitForTimeout(500);
  await ann.screenshot({ path: path.join(out, 'call-desktop.png') });

  await ann.getByRole('button', { name: 'Chat', exact: true }).click(); // close the chat
  await ann.setViewportSize({ width: 390, height: 844 });
  await ann.waitForTimeout(500);
  await ann.screenshot({ path: path.join(out, 'call-phone.png') });
  console.log(`screenshots in ${out}`);
} finally {
  await world.close();
}
