// A call between Chromium and Firefox ESR with media both ways. Firefox runs headless with
// its fake camera and microphone, driven over WebDriver (geckodriver + selenium-webdriver).
// Skipped, saying why, when Firefox or geckodriver is not installed (scripts/test-all.sh
// installs both).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { Builder, By, until } from 'selenium-webdriver';
import firefox from 'selenium-webdriver/firefox.js';
import { setup, joinRoom, waitForRemoteFrames, uniqueName, FRAME_TIMEOUT, UI_TIMEOUT } from '../lib/harness.mjs';

const FIREFOX = process.env.FIREFOX_BIN || '/usr/bin/firefox-esr';
function findGeckodriver() {
  if (process.env.GECKODRIVER_BIN) return process.env.GECKODRIVER_BIN;
  const cargo = path.join(process.env.CARGO_HOME || path.join(os.homedir(), '.cargo'), 'bin', 'geckodriver');
  if (existsSync(cargo)) return cargo;
  try {
    return execFileSync('sh', ['-c', 'command -v geckodriver'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
const GECKODRIVER = findGeckodriver();
const missing = !existsSync(FIREFOX) ? `${FIREFOX} is not installed`
  : !GECKODRIVER ? 'geckodriver is not installed (cargo install geckodriver --locked)' : null;

const PREFS = {
  // fake camera and microphone, no permission prompt
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // the tests run in a loopback-only network namespace: ICE must use loopback candidates
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // Without a stored camera/microphone permission Firefox gathers only its "default address"
  // (found by routing towards the internet, which fails here: no candidates at all).
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  // remote media plays with sound without a click
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  // nothing may try to reach the internet
  'media.gmp-manager.updateEnabled': false,
  'media.gmp-gmpopenh264.enabled': false,
  'app.update.enabled': false,
  'app.update.auto': false,
  'extensions.update.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'remote.prefs.recommended': true,
};

let world;
let driver;
before(async () => {
  if (missing) return;
  world = await setup();
  const options = new firefox.Options().setBinary(FIREFOX).addArguments('-headless');
  for (const [k, v] of Object.entries(PREFS)) options.setPreference(k, v);
  driver = await new Builder()
    .forBrowser('firefox')
    .setFirefoxOptions(options)
    .setFirefoxService(new firefox.ServiceBuilder(GECKODRIVER))
    .build();
  await driver.manage().setTimeouts({ script: FRAME_TIMEOUT + 5_000, pageLoad: UI_TIMEOUT });
});
after(async () => {
  await driver?.quit().catch(() => {});
  await world?.close();
});

/** In Firefox: waits until the remote video shows frames (videoWidth > 0, time advancing). */
const FIREFOX_FRAMES = `
  const done = arguments[arguments.length - 1];
  const deadline = Date.now() + ${FRAME_TIMEOUT};
  let last;
  (function check() {
    const v = document.querySelector('figure[data-peer] video');
    if (v && v.videoWidth > 0 && last !== undefined && v.currentTime > last) {
      const s = v.srcObject;
      return done({ ok: true, width: v.videoWidth, audio: s.getAudioTracks().map((t) => t.readyState + (t.muted ? ':muted' : '')) });
    }
    last = v ? v.currentTime : undefined;
    if (Date.now() > deadline) return done({ ok: false, width: v && v.videoWidth, time: v && v.currentTime, state: v && v.closest('figure').dataset.state, tiles: document.querySelectorAll('figure').length });
    setTimeout(check, 250);
  })();`;

test('Chromium and Firefox ESR in one room: video and audio both ways, chat and a screen share', { timeout: 90_000, skip: missing || false }, async () => {
  const room = uniqueName('firefox');
  const ann = await world.person('ann (chromium)');
  await joinRoom(ann, room, 'Ann');

  await driver.get(`${world.url}/r/${room}`);
  const name = await driver.wait(until.elementLocated(By.id('prejoin-name')), UI_TIMEOUT);
  await name.clear();
  await name.sendKeys('Fox');
  await driver.findElement(By.xpath('//button[normalize-space()="Join"]')).click();
  await driver.wait(until.elementLocated(By.xpath('//button[normalize-space()="Leave call"]')), UI_TIMEOUT);

  // Chromium sees Firefox…
  await waitForRemoteFrames(ann, 1);
  assert.deepEqual(await ann.locator('figure[data-peer] figcaption').allTextContents(), ['Fox']);
  const audioAtAnn = await ann.locator('figure[data-peer] video').evaluate((v) => v.srcObject.getAudioTracks().map((t) => t.readyState));
  assert.deepEqual(audioAtAnn, ['live']);
  // …and Firefox sees Chromium.
  const atFox = await driver.executeAsyncScript(FIREFOX_FRAMES);
  assert.ok(atFox.ok, `no frames from Chromium in Firefox: ${JSON.stringify(atFox)}`);
  assert.deepEqual(atFox.audio.map((a) => a.split(':')[0]), ['live']);
  // A control across browsers: Firefox mutes, Chromium sees the badge.
  await driver.findElement(By.xpath('//button[normalize-space()="Mute microphone"]')).click();
  await ann.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor({ timeout: UI_TIMEOUT });

  // Chat over the data channel across browsers, and a screen share from Chromium as its own
  // tile in Firefox (Firefox names m-lines differently; the tile must still be told apart).
  await ann.getByRole('button', { name: 'Chat', exact: true }).click();
  await ann.getByRole('textbox', { name: 'Message' }).fill('hello Firefox');
  await ann.getByRole('button', { name: 'Send', exact: true }).click();
  assert.equal(await ann.locator('.chat-log li.self').getAttribute('data-via'), 'p2p');
  const msg = await driver.wait(until.elementLocated(By.css('.chat-log li[data-via="p2p"] .chat-text')), UI_TIMEOUT);
  assert.equal(await msg.getAttribute('textContent'), 'hello Firefox'); // the panel is closed: not getText()
  await ann.getByRole('button', { name: 'Share screen' }).click();
  await ann.getByRole('button', { name: 'Stop sharing' }).waitFor();
  const screen = await driver.executeAsyncScript(FIREFOX_FRAMES.replace("'figure[data-peer] video'", "'figure[data-screen] video'"));
  assert.ok(screen.ok, `no screen frames in Firefox: ${JSON.stringify(screen)}`);
  assert.equal((await driver.findElements(By.css('figure[data-peer]'))).length, 1);
  await ann.context().close();
});
