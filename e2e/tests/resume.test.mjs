// Session resume (docs/protocol.md, "Resuming a session"). The first two tests let
// Playwright's WebSocket routing play a server, to pin down the client's side exactly: a
// resumed session is carried on, a refused one is rejoined in full. The last one runs against
// the real server, whose takeover of a half-open connection it exercises.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, joinRoom, waitForRemoteFrames, waitForRemoteCount, uniqueName, UI_TIMEOUT,
} from '../lib/harness.mjs';

let world;
before(async () => { world = await setup(); });
after(async () => { await world?.close(); });

function countPeerConnections() {
  const Original = window.RTCPeerConnection;
  window.__e2ePeerConnections = 0;
  window.RTCPeerConnection = function RTCPeerConnection(...args) {
    window.__e2ePeerConnections += 1;
    return new Original(...args);
  };
  window.RTCPeerConnection.prototype = Original.prototype;
}

/**
 * Routes `page`'s signaling socket through the test. `resumable` decides whether a reconnect
 * with a token resumes the kept server connection or starts afresh (like today's server).
 */
async function routeSignaling(page, { resumable }) {
  const r = { urls: [], welcome: null, server: null, page: null, tokens: 0 };
  await page.routeWebSocket(/\/ws(\?.*)?$/, (ws) => {
    r.urls.push(ws.url());
    const token = new URL(ws.url()).searchParams.get('resume');
    r.page = ws;
    ws.onClose(() => {}); // a drop on the page side leaves the server side open
    if (token && resumable && r.server && token === `token-${r.tokens}`) {
      r.tokens += 1;
      ws.send(JSON.stringify({ ...r.welcome, resume: `token-${r.tokens}`, resumed: true }));
    } else {
      if (r.server) r.server.close(); // the old session ends, as when a real server forgets it
      const server = ws.connectToServer();
      r.server = server;
      server.onMessage((text) => {
        let msg = JSON.parse(text);
        if (msg.type === 'welcome') {
          r.welcome = msg;
          r.tokens += 1;
          msg = { ...msg, resume: `token-${r.tokens}` };
        }
        r.page.send(JSON.stringify(msg));
      });
      server.onClose(() => r.page.close());
    }
    ws.onMessage((text) => r.server.send(text));
  });
  return r;
}

async function inRoom(resumable) {
  const room = uniqueName('resume');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ann.addInitScript(countPeerConnections);
  const route = await routeSignaling(ann, { resumable });
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  return { ann, ben, route };
}

test('a dropped socket resumes the session: no rejoin, the others see nothing, media keeps flowing', { timeout: 90_000 }, async () => {
  const { ann, ben, route } = await inRoom(true);
  const annIdAtBen = await ben.locator('figure[data-peer]').getAttribute('data-peer');
  const benIdAtAnn = await ann.locator('figure[data-peer]').getAttribute('data-peer');

  await route.page.close({ code: 4000, reason: 'network drop (test)' });
  await ann.getByText('Connection lost — reconnecting…').waitFor();
  await ann.getByText('Connection lost — reconnecting…').waitFor({ state: 'hidden', timeout: 20_000 });
  assert.equal(route.urls.length, 2);
  assert.match(route.urls[1], /\/ws\?resume=token-1$/);

  // Nothing was redone: same tiles, same ids, the one peer connection it always had.
  assert.equal(await ann.evaluate(() => window.__e2ePeerConnections), 1);
  assert.equal(await ann.locator('figure[data-peer]').getAttribute('data-peer'), benIdAtAnn);
  assert.equal(await ben.locator('figure[data-peer]').getAttribute('data-peer'), annIdAtBen);
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  // and the resumed session carries signaling: a mute reaches Ben
  await ann.getByRole('button', { name: 'Mute microphone' }).click();
  await ben.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor({ timeout: UI_TIMEOUT });

  // A second drop uses the token of the LAST welcome.
  await route.page.close({ code: 4000, reason: 'network drop (test)' });
  await ann.getByText('Connection lost — reconnecting…').waitFor();
  await ann.getByText('Connection lost — reconnecting…').waitFor({ state: 'hidden', timeout: 20_000 });
  assert.match(route.urls[2], /\/ws\?resume=token-2$/);
  assert.equal(await ann.evaluate(() => window.__e2ePeerConnections), 1);
  await ann.context().close();
  await ben.context().close();
});

test('when the server cannot resume, the client rejoins in full', { timeout: 90_000 }, async () => {
  const { ann, ben, route } = await inRoom(false);
  const annIdAtBen = await ben.locator('figure[data-peer]').getAttribute('data-peer');
  await route.page.close({ code: 4000, reason: 'network drop (test)' });
  await ann.getByText('Connection lost — reconnecting…').waitFor();
  await ann.getByText('Connection lost — reconnecting…').waitFor({ state: 'hidden', timeout: 20_000 });
  assert.match(route.urls[1], /\/ws\?resume=token-1$/);
  // A new session: Ben sees Ann leave and come back under a new id, with video again.
  await ben.waitForFunction((old) => {
    const f = document.querySelector('figure[data-peer]');
    return f && f.dataset.peer !== old;
  }, annIdAtBen, { timeout: 20_000 });
  await waitForRemoteCount(ben, 1);
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.equal(await ann.evaluate(() => window.__e2ePeerConnections), 2);
  await ann.context().close();
  await ben.context().close();
});

// Against the real server: Ann's network drops for a moment. Her page's socket dies while the
// server's end stays open (half-open, as after a network switch); her page reconnects with its
// resume token and takes the session over. Ben keeps the same tile for her (no leave, no
// rejoin) and video keeps coming.
test('the real server resumes a session after the network drops for a moment', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ann.addInitScript(countPeerConnections);
  const sockets = [];
  await ann.routeWebSocket(/\/ws(\?.*)?$/, (ws) => {
    sockets.push(ws);
    ws.connectToServer(); // forwards both ways
    // A close on the page side must not reach the server: that is what a lost network does.
    ws.onClose(() => {});
  });
  const room = uniqueName('resume-real');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  const annTile = await ben.locator('figure[data-peer]').getAttribute('data-peer');
  assert.equal(sockets.length, 1);

  await sockets[0].close({ code: 4001, reason: 'network lost' });
  const deadline = Date.now() + 20_000;
  while (sockets.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(sockets.length, 2, 'the page reconnected');
  assert.match(sockets[1].url(), /[?&]resume=/, 'with its resume token');

  // The same session: Ben's tile for Ann was never replaced, Ann made no new peer connection.
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  assert.equal(await ben.locator('figure[data-peer]').getAttribute('data-peer'), annTile);
  await waitForRemoteCount(ben, 1);
  assert.equal(await ann.evaluate(() => window.__e2ePeerConnections), 1);
  // And signaling still works after the takeover: Ann mutes, Ben sees the badge.
  await ann.getByRole('button', { name: 'Mute microphone' }).click();
  await ben.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor({ timeout: UI_TIMEOUT });
  await ann.context().close();
  await ben.context().close();
});
