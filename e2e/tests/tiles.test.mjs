// What one person sees and hears of the others, tile by tile: full screen and picture in
// picture per tile, the chosen speaker for every remote media element (also those that come
// later), the active-speaker highlight on one's own tile, and the sound of a shared screen.
//
// Headless Chromium 156 (Playwright's default headless mode, which is the "new" headless)
// has all of it: document.fullscreenEnabled and document.pictureInPictureEnabled are true,
// requestPictureInPicture() works after a click, and with --use-fake-device-for-media-stream
// it lists the outputs "default", "Fake Audio Output 1" and "Fake Audio Output 2". Its fake
// screen capture (getDisplayMedia({video: true, audio: true}) with --use-fake-ui-for-media-stream)
// returns a "Fake audio" track besides the video, so the app's own sharing path carries audio.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, joinRoom, waitForRemoteFrames, waitForRemoteCount, uniqueName, UI_TIMEOUT, FRAME_TIMEOUT,
  recordPeerConnections,
} from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

async function pair(room, { record = false } = {}) {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  if (record) {
    await recordPeerConnections(ann);
    await recordPeerConnections(ben);
  }
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  return { ann, ben };
}

async function closeAll(...pages) {
  for (const p of pages) await p.context().close();
}

/** The remote video is still showing frames (videoWidth > 0, currentTime advancing). */
async function stillPlaying(page, selector) {
  await page.waitForFunction(async (sel) => {
    const v = document.querySelector(sel);
    if (!v || v.videoWidth === 0) return false;
    const t = v.currentTime;
    await new Promise((r) => setTimeout(r, 300));
    return v.currentTime > t;
  }, selector, { timeout: FRAME_TIMEOUT, polling: 100 });
}

test('the Full screen button fills the screen with that tile; Escape and a second click leave', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('full'));
  const tile = ann.locator('figure[data-peer]');
  const full = tile.getByRole('button', { name: /^Full screen/ });
  assert.equal(await full.isVisible(), true);

  await full.click();
  await ann.waitForFunction(() => document.fullscreenElement === document.querySelector('figure[data-peer]'), null, { timeout: UI_TIMEOUT });
  // The tile covers the whole window, and Ben's video keeps playing in it.
  const size = await tile.evaluate((f) => {
    const r = f.getBoundingClientRect();
    return { w: Math.round(r.width), h: Math.round(r.height), vw: window.innerWidth, vh: window.innerHeight };
  });
  assert.deepEqual([size.w, size.h], [size.vw, size.vh], JSON.stringify(size));
  await stillPlaying(ann, 'figure[data-peer] video');

  // Escape leaves full screen. A headed Chromium does that itself and the page never sees the
  // key; headless Chromium has no such browser-side handling — the keydown reaches the page
  // and the element stays in full screen (checked by hand: fullscreenElement unchanged, the
  // page got 'Escape') — so in here it is the client's own Escape handler that is exercised.
  await ann.keyboard.press('Escape');
  await ann.waitForFunction(() => document.fullscreenElement === null, null, { timeout: UI_TIMEOUT });

  // Clicking the same button again also leaves it.
  await full.click();
  await ann.waitForFunction(() => document.fullscreenElement === document.querySelector('figure[data-peer]'), null, { timeout: UI_TIMEOUT });
  await full.click();
  await ann.waitForFunction(() => document.fullscreenElement === null, null, { timeout: UI_TIMEOUT });
  await stillPlaying(ann, 'figure[data-peer] video');
  await closeAll(ann, ben);
});

test('the Picture in picture button pops the remote video out and back', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('pip'));
  const tile = ann.locator('figure[data-peer]');
  const pip = tile.getByRole('button', { name: /^Picture in picture/ });
  assert.equal(await pip.isVisible(), true);

  await pip.click();
  await ann.waitForFunction(() => document.pictureInPictureElement === document.querySelector('figure[data-peer] video'), null, { timeout: UI_TIMEOUT });
  // It is Ben's live video that floats: frames keep coming.
  await stillPlaying(ann, 'figure[data-peer] video');

  await pip.click();
  await ann.waitForFunction(() => document.pictureInPictureElement === null, null, { timeout: UI_TIMEOUT });
  await closeAll(ann, ben);
});

test('where the browser has no picture in picture or full screen, those buttons are not shown', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  // As in a browser (or a page policy) without them.
  await ann.addInitScript(() => {
    Object.defineProperty(Document.prototype, 'pictureInPictureEnabled', { get: () => false, configurable: true });
    Object.defineProperty(Document.prototype, 'fullscreenEnabled', { get: () => false, configurable: true });
  });
  const room = uniqueName('notools');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await waitForRemoteFrames(ann, 1);
  const tile = ann.locator('figure[data-peer]');
  assert.equal(await tile.getByRole('button', { name: /^Picture in picture/ }).count(), 0);
  assert.equal(await tile.getByRole('button', { name: /^Full screen/ }).count(), 0);
  // Ben's browser has both.
  await ben.locator('figure[data-peer]').getByRole('button', { name: /^Picture in picture/ }).waitFor();
  await closeAll(ann, ben);
});

test('the chosen speaker plays every other person, and those who come later', { timeout: 90_000 }, async () => {
  const room = uniqueName('speaker');
  const { ann, ben } = await pair(room);
  const speaker = ann.getByLabel('Speaker', { exact: true });
  const options = await speaker.locator('option').evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
  const chosen = options.find((o) => o.value !== 'default');
  assert.ok(chosen, `a second output besides "default" in ${JSON.stringify(options)}`);
  await speaker.selectOption(chosen.value);

  const sinks = () => ann.evaluate(() => [...document.querySelectorAll('figure video')].map((v) => ({
    who: v.closest('figure').dataset.peer ? 'peer' : v.closest('figure').dataset.screen ? `screen:${v.closest('figure').dataset.screen}` : 'self',
    sinkId: v.sinkId,
    audio: v.srcObject ? v.srcObject.getAudioTracks().map((t) => t.readyState) : [],
    muted: v.muted,
    paused: v.paused,
  })));
  await ann.waitForFunction((id) => [...document.querySelectorAll('figure[data-peer] video')].every((v) => v.sinkId === id), chosen.value, { timeout: UI_TIMEOUT });
  let now = await sinks();
  // Ben is heard (his live audio track, not muted, playing) through the chosen output;
  // Ann's own view stays silent on the default one.
  const benTile = now.find((x) => x.who === 'peer');
  assert.deepEqual(benTile, { who: 'peer', sinkId: chosen.value, audio: ['live'], muted: false, paused: false }, JSON.stringify(now));
  assert.equal(now.find((x) => x.who === 'self').sinkId, '');

  // Cid joins afterwards: his tile plays through the same output, with frames coming.
  const cid = await world.person('cid');
  await joinRoom(cid, room, 'Cid');
  await waitForRemoteFrames(ann, 2);
  await ann.waitForFunction((id) => {
    const vs = [...document.querySelectorAll('figure[data-peer] video')];
    return vs.length === 2 && vs.every((v) => v.sinkId === id && !v.paused);
  }, chosen.value, { timeout: UI_TIMEOUT });

  // Ben shares his screen (Chromium's fake capture has audio): that tile uses it too.
  await ben.getByRole('button', { name: 'Share screen' }).click();
  await ann.locator('figure[data-screen] video').waitFor({ timeout: FRAME_TIMEOUT });
  await ann.waitForFunction((id) => document.querySelector('figure[data-screen] video')?.sinkId === id, chosen.value, { timeout: UI_TIMEOUT });
  now = await sinks();
  assert.equal(now.filter((x) => x.sinkId === chosen.value).length, 3, JSON.stringify(now));
  assert.equal(await speaker.inputValue(), chosen.value);
  await closeAll(ann, ben, cid);
});

test('one\'s own tile is highlighted while one\'s own microphone is the loudest, never while muted', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('own-speaker'));
  // Ben is silent: Ann's fake microphone (it beeps) is the loudest in the call.
  await ben.getByRole('button', { name: 'Mute microphone' }).click();
  await ann.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor({ timeout: UI_TIMEOUT });
  await ann.locator('figure.self.speaking').waitFor({ timeout: 20_000 });
  assert.equal(await ann.locator('figure[data-peer].speaking').count(), 0);

  // Ann mutes: her tile is no longer highlighted, and stays so.
  await ann.getByRole('button', { name: 'Mute microphone' }).click();
  await ann.locator('figure.self.speaking').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  for (let i = 0; i < 3; i += 1) {
    await ann.waitForTimeout(2_100); // one round of the 2 s sampling each
    assert.equal(await ann.locator('figure.speaking').count(), 0, 'nobody speaks while both are muted');
  }

  // Ben speaks again: his tile lights up at Ann's, hers does not.
  await ben.getByRole('button', { name: 'Unmute microphone' }).click();
  await ann.locator('figure[data-peer].speaking').waitFor({ timeout: 20_000 });
  assert.equal(await ann.locator('figure.self.speaking').count(), 0);
  await closeAll(ann, ben);
});

test('the sound of a shared screen reaches the other person', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('screen-audio'), { record: true });
  await ann.getByRole('button', { name: 'Share screen' }).click();
  await ann.getByRole('button', { name: 'Stop sharing' }).waitFor();
  // Ann really shares audio: the display stream she sends has a live audio track.
  assert.deepEqual(
    await ann.locator('figure[data-screen="self"] video').evaluate((v) => v.srcObject.getTracks().map((t) => `${t.kind}:${t.readyState}`).sort()),
    ['audio:live', 'video:live'],
  );

  // Ben's screen tile gets that audio as a track of its own stream…
  const screen = ben.locator('figure[data-screen] video');
  await screen.waitFor({ timeout: FRAME_TIMEOUT });
  await ben.waitForFunction(() => {
    const v = document.querySelector('figure[data-screen] video');
    return v && v.srcObject && v.srcObject.getAudioTracks().some((t) => t.readyState === 'live');
  }, null, { timeout: FRAME_TIMEOUT });
  assert.equal(await screen.evaluate((v) => v.muted), false);

  // …that is not the camera's microphone, and carries sound: inbound audio bytes grow and
  // the level is above zero at some point.
  const screenAudio = () => ben.evaluate(async () => {
    const v = document.querySelector('figure[data-screen] video');
    const track = v.srcObject.getAudioTracks()[0];
    const camera = document.querySelector('figure[data-peer] video').srcObject.getAudioTracks()[0];
    for (const pc of window.__pcs) {
      const receiver = pc.getReceivers().find((r) => r.track === track);
      if (!receiver) continue;
      let bytes = 0;
      let level = 0;
      (await receiver.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          bytes += s.bytesReceived || 0;
          level = Math.max(level, s.audioLevel || 0);
        }
      });
      return { bytes, level, sameAsCamera: track === camera };
    }
    return null;
  });
  const first = await screenAudio();
  assert.ok(first, 'a receiver for the screen audio');
  assert.equal(first.sameAsCamera, false);
  let last = first;
  let loud = first.level > 0;
  const deadline = Date.now() + FRAME_TIMEOUT;
  while ((last.bytes <= first.bytes + 1000 || !loud) && Date.now() < deadline) {
    await ben.waitForTimeout(250);
    last = await screenAudio();
    loud ||= last.level > 0;
  }
  assert.ok(last.bytes > first.bytes + 1000, `inbound screen audio bytes grew: ${first.bytes} → ${last.bytes}`);
  assert.ok(loud, 'the screen audio has sound in it');
  await waitForRemoteCount(ben, 1);
  await closeAll(ann, ben);
});
