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
  // `gate`: while set (a promise), a new connection gets no `welcome` until it resolves — the
  // outage goes on with the page's socket open. `sent`: the types the page sent, in order.
  const r = { urls: [], welcome: null, server: null, page: null, tokens: 0, gate: null, sent: [] };
  await page.routeWebSocket(/\/ws(\?.*)?$/, async (ws) => {
    r.urls.push(ws.url());
    const token = new URL(ws.url()).searchParams.get('resume');
    r.page = ws;
    ws.onClose(() => {}); // a drop on the page side leaves the server side open
    if (r.gate) await r.gate;
    if (token && resumable && r.server && token === `token-${r.tokens}`) {
      r.tokens += 1;
      ws.send(JSON.stringify({ ...r.welcome, resume: `token-${r.tokens}`, resumed: true }));
    } else {
      const old = r.server;
      const server = ws.connectToServer();
      r.server = server;
      if (old) old.close(); // the old session ends, as when a real server forgets it
      server.onMessage((text) => {
        let msg = JSON.parse(text);
        if (msg.type === 'welcome') {
          r.welcome = msg;
          r.tokens += 1;
          msg = { ...msg, resume: `token-${r.tokens}` };
        }
        r.page.send(JSON.stringify(msg));
      });
      // Only the current server connection's end reaches the page (not the one closed above).
      server.onClose(() => { if (r.server === server) r.page.close(); });
    }
    ws.onMessage((text) => {
      r.sent.push(JSON.parse(text));
      r.server.send(text);
    });
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

/** Records the page's data channels (so a test can close them: chat then goes via the server). */
function recordChannels() {
  window.__e2eChannels = [];
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const ch = create.apply(this, args);
    window.__e2eChannels.push(ch);
    return ch;
  };
}

/**
 * Ann's socket drops and stays down (no `welcome`) while she mutes and sends a chat message
 * through the server (her data channels are closed); then the outage ends. Resolves with what
 * she sent after the drop.
 */
async function sayWhileOffline({ ann, ben, route }) {
  await ann.evaluate(() => window.__e2eChannels.forEach((c) => c.close()));
  await ann.waitForFunction(() => window.__e2eChannels.every((c) => c.readyState === 'closed'), null, { timeout: UI_TIMEOUT });
  let release;
  route.gate = new Promise((resolve) => { release = resolve; });
  const sentBefore = route.sent.length;
  await route.page.close({ code: 4000, reason: 'network drop (test)' });
  await ann.getByText('Connection lost — reconnecting…').waitFor();
  // The page has no connection now (the client waits at most 5 s for a welcome).
  await ann.getByRole('button', { name: 'Mute microphone' }).click();
  await ann.getByRole('button', { name: 'Unmute microphone' }).waitFor();
  await ann.getByRole('button', { name: 'Chat', exact: true }).click();
  await ann.getByRole('textbox', { name: 'Message' }).fill('said while offline');
  await ann.getByRole('button', { name: 'Send', exact: true }).click();
  await ann.locator('.chat-log li.self', { hasText: 'said while offline' }).waitFor();
  // Nothing of it has left the page yet: Ben sees no change.
  assert.equal(route.sent.length, sentBefore);
  assert.equal(await ben.locator('figure[data-peer] .badge', { hasText: 'muted' }).isVisible(), false);
  route.gate = null;
  release();
  await ann.getByText('Connection lost — reconnecting…').waitFor({ state: 'hidden', timeout: 20_000 });
  return () => route.sent.slice(sentBefore);
}

test('what is said while the socket is down reaches the others, in order, once the session resumes', { timeout: 90_000 }, async () => {
  const room = uniqueName('resume-queue');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ann.addInitScript(countPeerConnections);
  await ann.addInitScript(recordChannels);
  const route = await routeSignaling(ann, { resumable: true });
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  const annIdAtBen = await ben.locator('figure[data-peer]').getAttribute('data-peer');

  const sentAfter = await sayWhileOffline({ ann, ben, route });
  assert.equal(route.urls.length, 2);
  assert.match(route.urls[1], /\/ws\?resume=token-1$/);
  // Ben sees Ann muted and reads her message (it came through the server), on the same tile.
  await ben.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor({ timeout: UI_TIMEOUT });
  await ben.getByRole('button', { name: 'Chat', exact: true }).click();
  const msg = ben.locator('.chat-log li', { hasText: 'said while offline' });
  await msg.waitFor({ timeout: UI_TIMEOUT });
  assert.equal(await msg.getAttribute('data-via'), 'server');
  assert.equal(await msg.locator('.chat-name').textContent(), 'Ann');
  assert.equal(await ben.locator('figure[data-peer]').getAttribute('data-peer'), annIdAtBen);
  // In the order they were said, first thing on the resumed session, each once.
  const sent = sentAfter().filter((m) => m.type !== 'ping' && m.type !== 'signal');
  assert.deepEqual(sent.slice(0, 2).map((m) => m.type), ['media', 'chat'], JSON.stringify(sent));
  assert.equal(sent[0].audio, false);
  assert.equal(sent.filter((m) => m.type === 'chat').length, 1);
  assert.equal(await ann.evaluate(() => window.__e2ePeerConnections), 1);
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  await ann.context().close();
  await ben.context().close();
});

test('what is said while the socket is down is dropped when the session cannot be resumed', { timeout: 90_000 }, async () => {
  const room = uniqueName('resume-drop');
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await ann.addInitScript(recordChannels);
  const route = await routeSignaling(ann, { resumable: false });
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  const annIdAtBen = await ben.locator('figure[data-peer]').getAttribute('data-peer');

  const sentAfter = await sayWhileOffline({ ann, ben, route });
  // A new session: Ann rejoins, and says she is muted as part of that; the stale messages
  // are not replayed into the new session, and Ann is told her message did not go out.
  await ann.getByText('A message sent while offline was lost').waitFor({ timeout: UI_TIMEOUT });
  await ben.waitForFunction((old) => {
    const f = document.querySelector('figure[data-peer]');
    return f && f.dataset.peer !== old;
  }, annIdAtBen, { timeout: 20_000 });
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  await ben.locator('figure[data-peer] .badge', { hasText: 'muted' }).waitFor({ timeout: UI_TIMEOUT });
  const sent = sentAfter().filter((m) => m.type !== 'ping' && m.type !== 'signal');
  assert.equal(sent[0]?.type, 'join', JSON.stringify(sent));
  assert.equal(sent.filter((m) => m.type === 'chat').length, 0, JSON.stringify(sent));
  await ben.getByRole('button', { name: 'Chat', exact: true }).click();
  assert.equal(await ben.locator('.chat-log li', { hasText: 'said while offline' }).count(), 0);
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
