// In-call controls, checked from the OTHER participant's side: mute and camera badges, video
// frames resuming after the camera comes back (without renegotiation), and chat over the data
// channel with the server as fallback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, joinRoom, goOnline, waitForRemoteFrames, uniqueName, UI_TIMEOUT, FRAME_TIMEOUT,
} from '../lib/harness.mjs';

let world;
// Two fake cameras (and microphones), so "Switch camera" and the pickers have a choice.
before(async () => { world = await setup({ browserArgs: ['--use-fake-device-for-media-stream=device-count=3'] }); });
after(async () => { await world?.close(); });

// Records the page's data channels and counts local descriptions (a renegotiation sets one).
function instrument() {
  window.__e2eChannels = [];
  window.__e2eLocalDescriptions = 0;
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const ch = create.apply(this, args);
    window.__e2eChannels.push(ch);
    return ch;
  };
  const sld = RTCPeerConnection.prototype.setLocalDescription;
  RTCPeerConnection.prototype.setLocalDescription = function (...args) {
    window.__e2eLocalDescriptions += 1;
    return sld.apply(this, args);
  };
}

async function pair(room) {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ann.addInitScript(instrument);
  await ben.addInitScript(instrument);
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  return { ann, ben };
}

/** A badge with `text` on the remote tile of `page`: waits until it is visible (or hidden). */
async function waitBadge(page, text, visible, timeout = 1_500) {
  const badge = page.locator('figure[data-peer] .badge', { hasText: text });
  await badge.waitFor({ state: visible ? 'visible' : 'hidden', timeout });
}

/** Resolves once the remote video of `page` has rendered `n` new frames. */
async function waitForNewFrames(page, n = 5, timeout = FRAME_TIMEOUT, selector = 'figure[data-peer] video') {
  await page.locator(selector).evaluate((v, [count, ms]) => new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`only ${seen} new frames in ${ms} ms`)), ms);
    const step = () => {
      seen += 1;
      if (seen >= count && v.videoWidth > 0) { clearTimeout(timer); resolve(); } else v.requestVideoFrameCallback(step);
    };
    v.requestVideoFrameCallback(step);
  }), [n, timeout]);
}

test('mute and camera off show badges to the other person; the camera comes back without renegotiating', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('controls'));

  // Microphone: immediate locally, badge for Ben within a second or so.
  await ann.getByRole('button', { name: 'Mute microphone' }).click();
  await ann.getByRole('button', { name: 'Unmute microphone' }).waitFor();
  assert.equal(await ann.locator('figure.self video').evaluate((v) => v.srcObject.getAudioTracks()[0].enabled), false);
  await waitBadge(ben, 'muted', true);
  await ann.getByRole('button', { name: 'Unmute microphone' }).click();
  await waitBadge(ben, 'muted', false);
  assert.equal(await ann.locator('figure.self video').evaluate((v) => v.srcObject.getAudioTracks()[0].enabled), true);

  // Camera off: the track is stopped and gone (the device is released), Ben sees the badge.
  const before = await ann.evaluate(() => window.__e2eLocalDescriptions);
  await ann.getByRole('button', { name: 'Turn camera off' }).click();
  await ann.getByRole('button', { name: 'Turn camera on' }).waitFor();
  await waitBadge(ben, 'camera off', true);
  assert.equal(await ann.locator('figure.self video').evaluate((v) => v.srcObject.getVideoTracks().length), 0);

  // Camera on: a new track, frames flow again at Ben's, and no new offer/answer was needed.
  await ann.getByRole('button', { name: 'Turn camera on' }).click();
  await ann.getByRole('button', { name: 'Turn camera off' }).waitFor();
  await waitBadge(ben, 'camera off', false, UI_TIMEOUT);
  await waitForNewFrames(ben);
  await waitForRemoteFrames(ben, 1);
  assert.equal(await ann.locator('figure.self video').evaluate((v) => v.srcObject.getVideoTracks()[0].readyState), 'live');
  assert.equal(await ann.evaluate(() => window.__e2eLocalDescriptions), before, 'camera on renegotiated');
  await ann.context().close();
  await ben.context().close();
});

test('chat goes peer to peer, falls back to the server, counts unread and never runs markup', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('chat'));
  await ben.waitForFunction(() => window.__e2eChannels.length > 0
    && window.__e2eChannels.every((c) => c.readyState === 'open'), null, { timeout: UI_TIMEOUT });

  const markup = 'see <a href="javascript:alert(1)">this</a> <img src=x onerror="window.__pwned=1"> https://example.com';
  await ben.getByRole('button', { name: 'Chat', exact: true }).click();
  await ben.getByRole('textbox', { name: 'Message' }).fill(markup);
  await ben.getByRole('button', { name: 'Send', exact: true }).click();

  // Ann has the panel closed: the button keeps its name and shows the count.
  const annChat = ann.getByRole('button', { name: 'Chat', exact: true });
  await annChat.locator('.count', { hasText: '1' }).waitFor({ timeout: UI_TIMEOUT });
  await annChat.click();
  const first = ann.locator('.chat-log li').first();
  await first.waitFor();
  assert.equal(await first.locator('.chat-text').textContent(), markup);
  assert.equal(await first.locator('.chat-name').textContent(), 'Ben');
  assert.match(await first.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
  assert.equal(await first.getAttribute('data-via'), 'p2p');
  assert.equal(await ann.locator('.chat-log a, .chat-log img').count(), 0);
  assert.equal(await ann.evaluate(() => window.__pwned), undefined);
  assert.equal(await annChat.locator('.count').isHidden(), true);

  // Ben's data channel closes: the next message goes through the server and still arrives.
  await ben.evaluate(() => window.__e2eChannels.forEach((c) => c.close()));
  await ben.waitForFunction(() => window.__e2eChannels.every((c) => c.readyState === 'closed'), null, { timeout: UI_TIMEOUT });
  await ben.getByRole('textbox', { name: 'Message' }).fill('through the server');
  await ben.getByRole('button', { name: 'Send', exact: true }).click();
  const second = ann.locator('.chat-log li', { hasText: 'through the server' });
  await second.waitFor({ timeout: UI_TIMEOUT });
  assert.equal(await second.getAttribute('data-via'), 'server');
  assert.equal(await second.locator('.chat-name').textContent(), 'Ben');

  // And Ann's answer reaches Ben (Ann's channel is closed too now: server path).
  await ann.getByRole('textbox', { name: 'Message' }).fill('got it');
  await ann.getByRole('button', { name: 'Send', exact: true }).click();
  await ben.locator('.chat-log li', { hasText: 'got it' }).waitFor({ timeout: UI_TIMEOUT });
  assert.equal(await ben.locator('.chat-log li.self').count(), 2);
  await ann.context().close();
  await ben.context().close();
});

test('a shared screen is its own tile for the other person, and goes away when stopped', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('screen'));
  await ann.getByRole('button', { name: 'Share screen' }).click();
  await ann.getByRole('button', { name: 'Stop sharing' }).waitFor();
  // Ben: the camera tile stays, the screen comes as a second tile with frames arriving.
  const screenVideo = ben.locator('figure[data-screen] video');
  await screenVideo.waitFor({ timeout: FRAME_TIMEOUT });
  assert.equal(await ben.locator('figure[data-screen] figcaption').textContent(), "Ann's screen");
  await waitForNewFrames(ben, 3, FRAME_TIMEOUT, 'figure[data-screen] video');
  await waitForRemoteFrames(ben, 1); // the camera keeps going
  assert.equal(await ben.locator('figure[data-peer]').count(), 1);

  // Stopping from the browser's own bar ends the track: handled like "Stop sharing".
  await ann.evaluate(() => {
    const v = document.querySelector('figure[data-screen="self"] video');
    for (const t of v.srcObject.getVideoTracks()) { t.stop(); t.dispatchEvent(new Event('ended')); }
  });
  await ann.getByRole('button', { name: 'Share screen' }).waitFor();
  await ben.locator('figure[data-screen]').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  await waitForRemoteFrames(ben, 1);
  await ann.context().close();
  await ben.context().close();
});

test('switching camera and microphone keeps media flowing without renegotiating', { timeout: 90_000 }, async () => {
  // Chromium's fake cameras: fake_device_0 (I420) and fake_device_2 (MJPEG) deliver frames;
  // fake_device_1 is a Y16 depth camera whose frames stall in the encoder, so it is skipped.
  const { ann, ben } = await pair(uniqueName('devices'));
  const label = () => ann.locator('figure.self video').evaluate((v) => v.srcObject.getVideoTracks()[0]?.label);
  const waitLabel = (want) => ann.waitForFunction((l) => {
    const t = document.querySelector('figure.self video').srcObject.getVideoTracks()[0];
    return t && t.readyState === 'live' && t.label === l;
  }, want, { timeout: UI_TIMEOUT });
  assert.equal(await label(), 'fake_device_0');
  const descriptions = await ann.evaluate(() => window.__e2eLocalDescriptions);

  const camera = ann.getByLabel('Camera', { exact: true });
  assert.deepEqual(await camera.locator('option').allTextContents(), ['fake_device_0', 'fake_device_1', 'fake_device_2']);
  await camera.selectOption({ label: 'fake_device_2' });
  await waitLabel('fake_device_2');
  await waitForNewFrames(ben);
  await waitForRemoteFrames(ben, 1);

  // "Switch camera" goes to the next one (here it wraps around to the first).
  await ann.getByRole('button', { name: 'Switch camera' }).click();
  await waitLabel('fake_device_0');
  await waitForNewFrames(ben);
  assert.equal(await camera.inputValue(), await ann.locator('figure.self video').evaluate((v) => v.srcObject.getVideoTracks()[0].getSettings().deviceId));

  // Microphone: another device, the same sender.
  const mic = ann.getByLabel('Microphone', { exact: true });
  const micLabel = () => ann.locator('figure.self video').evaluate((v) => v.srcObject.getAudioTracks()[0]?.label);
  const oldMic = await micLabel();
  const micOptions = await mic.locator('option').allTextContents();
  const other = micOptions.findIndex((t) => t !== oldMic);
  assert.ok(other >= 0, `another microphone in ${JSON.stringify(micOptions)}`);
  await mic.selectOption({ index: other });
  await ann.waitForFunction((old) => document.querySelector('figure.self video').srcObject.getAudioTracks()[0]?.label !== old, oldMic, { timeout: UI_TIMEOUT });
  assert.equal(await ann.evaluate(() => window.__e2eLocalDescriptions), descriptions, 'a device switch renegotiated');
  await waitForRemoteFrames(ben, 1);
  await ann.context().close();
  await ben.context().close();
});

test('without any camera, joining with a shared screen is offered and the others see it', { timeout: 90_000 }, async () => {
  const room = uniqueName('nocam');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  // Ann's browser has no camera: every request for video fails as on a machine without one.
  await ann.addInitScript(() => {
    const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (c) => (c && c.video
      ? Promise.reject(new DOMException('Requested device not found', 'NotFoundError'))
      : gum(c));
  });
  await joinRoom(ben, room, 'Ben');
  await ann.goto(`/r/${room}`);
  await ann.getByText('No camera found').waitFor();
  await ann.getByLabel('Your name').fill('Ann');
  await ann.getByRole('button', { name: 'Join with screen share' }).click();
  await ann.getByRole('button', { name: 'Stop sharing' }).waitFor();
  await ben.locator('figure[data-screen] video').waitFor({ timeout: FRAME_TIMEOUT });
  await waitForNewFrames(ben, 3, FRAME_TIMEOUT, 'figure[data-screen] video');
  assert.equal(await ben.locator('figure[data-peer] .badge', { hasText: 'camera off' }).isVisible(), true);
  await ann.context().close();
  await ben.context().close();
});

test('connection quality, shortcuts, tab title and room link', { timeout: 90_000 }, async () => {
  const { ann, ben } = await pair(uniqueName('extras'));
  // Quality indicator measured from getStats, with a details panel.
  const quality = ann.locator('figure[data-peer] .quality');
  await ann.waitForFunction(() => document.querySelector('figure[data-peer] .quality')?.dataset.quality === 'good', null, { timeout: UI_TIMEOUT });
  assert.match(await quality.getAttribute('aria-label'), /^Connection to Ben: good$/);
  await quality.click();
  const details = ann.locator('figure[data-peer] .details');
  await details.waitFor();
  // rates need two samples (2 s apart)
  await ann.waitForFunction(() => /Receiving\d+ kbit/.test(document.querySelector('figure[data-peer] .details').textContent), null, { timeout: UI_TIMEOUT });
  assert.match(await details.textContent(), /Round trip\d+ ms.*Receiving\d+ kbit\/s/);
  assert.ok(Number((await details.textContent()).match(/Receiving(\d+)/)[1]) > 50, 'receiving real media');

  // Ben's fake microphone beeps: his tile lights up as the active speaker. (Ann's beeps just
  // as loud and her own tile takes part too, so she is muted meanwhile to make Ben the
  // loudest; tiles.test.mjs checks her own tile.)
  await ann.getByRole('button', { name: 'Mute microphone' }).click();
  await ann.locator('figure[data-peer].speaking').waitFor({ timeout: UI_TIMEOUT });
  assert.equal(await ann.locator('figure.self.speaking').count(), 0);
  await ann.getByRole('button', { name: 'Unmute microphone' }).click();
  await waitBadge(ben, 'muted', false, UI_TIMEOUT);

  // Keyboard: m and v, not while typing.
  await ann.locator('body').click({ position: { x: 5, y: 5 } });
  await ann.keyboard.press('m');
  await ann.getByRole('button', { name: 'Unmute microphone' }).waitFor();
  await waitBadge(ben, 'muted', true);
  await ann.keyboard.press('v');
  await ann.getByRole('button', { name: 'Turn camera on' }).waitFor();
  await waitBadge(ben, 'camera off', true);
  await ann.getByRole('button', { name: 'Chat', exact: true }).click();
  await ann.getByRole('textbox', { name: 'Message' }).type('mv');
  await ann.getByRole('button', { name: 'Unmute microphone' }).waitFor(); // unchanged
  assert.match(await ann.getByText(/^Shortcuts:/).textContent(), /M .*microphone.*V .*camera/);

  // The tab says where we are; "Copy link" puts the room's address on the clipboard.
  assert.match(await ann.title(), /^Room extras-.* — Confer$/);
  await ann.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await ann.getByRole('button', { name: 'Copy link' }).click();
  await ann.getByText('Link copied').waitFor();
  assert.equal(await ann.evaluate(() => navigator.clipboard.readText()), new URL(ann.url()).href);
  await ann.context().close();
  await ben.context().close();
});

test('an incoming call rings (WebAudio) and the tab title says so; answering stops the ring', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ben.addInitScript(() => {
    window.__e2eRing = { oscillators: 0, contexts: [] };
    const Ctx = window.AudioContext;
    window.AudioContext = class extends Ctx {
      constructor(...a) { super(...a); window.__e2eRing.contexts.push(this); }
      createOscillator() { window.__e2eRing.oscillators += 1; return super.createOscillator(); }
    };
  });
  const suffix = Date.now().toString(36);
  await goOnline(ann, `ann-${suffix}`);
  await goOnline(ben, `ben-${suffix}`);
  await ann.getByLabel('Username to call').fill(`ben-${suffix}`);
  await ann.getByRole('button', { name: 'Call', exact: true }).click();
  const dialog = ben.getByRole('dialog', { name: 'Incoming call' });
  await dialog.getByRole('button', { name: 'Answer' }).waitFor();
  assert.ok(await ben.evaluate(() => window.__e2eRing.oscillators) >= 2, 'no ring tone');
  assert.equal(await ben.title(), `Incoming call from ann-${suffix} — Confer`);
  await dialog.getByRole('button', { name: 'Answer' }).click();
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  await ben.waitForFunction(() => window.__e2eRing.contexts.every((c) => c.state === 'closed'), null, { timeout: UI_TIMEOUT });
  assert.equal(await ben.title(), `Call with ann-${suffix} — Confer`);
  await ann.context().close();
  await ben.context().close();
});

test('the camera chosen before joining is the one the others see', { timeout: 60_000 }, async () => {
  const room = uniqueName('prejoin');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ann.goto(`/r/${room}`);
  const camera = ann.getByLabel('Camera', { exact: true });
  await camera.locator('option', { hasText: 'fake_device_2' }).waitFor({ state: 'attached' });
  await camera.selectOption({ label: 'fake_device_2' });
  await ann.waitForFunction(() => document.querySelector('video.preview').srcObject?.getVideoTracks()[0]?.label === 'fake_device_2', null, { timeout: UI_TIMEOUT });
  assert.equal(await ann.getByLabel('Microphone', { exact: true }).locator('option').count() > 0, true);
  await ann.getByLabel('Your name').fill('Ann');
  await ann.getByRole('button', { name: 'Join', exact: true }).click();
  await ann.getByRole('button', { name: 'Leave call' }).waitFor();
  await joinRoom(ben, room, 'Ben');
  await waitForRemoteFrames(ben, 1);
  assert.equal(await ann.locator('figure.self video').evaluate((v) => v.srcObject.getVideoTracks()[0].label), 'fake_device_2');
  assert.equal(await ann.getByLabel('Camera', { exact: true }).evaluate((s) => s.selectedOptions[0].textContent), 'fake_device_2');
  await ann.context().close();
  await ben.context().close();
});
