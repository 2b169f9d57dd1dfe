// Privacy mode: with ice_transport_policy = "relay" every call goes through the embedded TURN
// server, so neither side learns the other's address — and media still flows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, joinRoom, waitForRemoteFrames, uniqueName, recordPeerConnections,
} from '../lib/harness.mjs';

let world;
before(async () => {
  world = await setup({
    serverArgs: [
      '--turn-listen', '127.0.0.1:0',
      // The test's peers live on loopback, which TURN refuses to relay to by default.
      '--turn-allow-loopback', 'true',
      '--ice-transport-policy', 'relay',
    ],
  });
});
after(async () => { await world?.close(); });

/** The local and remote candidate types of each connected peer connection's selected pair. */
async function selectedPairTypes(page) {
  return page.evaluate(async () => {
    const result = [];
    for (const pc of window.__pcs) {
      if (pc.connectionState !== 'connected') continue;
      const stats = await pc.getStats();
      let pairId = null;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
      const pair = pairId && stats.get(pairId);
      if (!pair) continue;
      result.push({
        local: stats.get(pair.localCandidateId)?.candidateType,
        remote: stats.get(pair.remoteCandidateId)?.candidateType,
        policy: pc.getConfiguration().iceTransportPolicy,
      });
    }
    return result;
  });
}

test('relay-only calls go through the embedded TURN server and carry media', { timeout: 60_000 }, async () => {
  const ann = await world.person('ann');
  const ben = await world.person('ben');
  await recordPeerConnections(ann);
  await recordPeerConnections(ben);
  const room = uniqueName('relay');
  await joinRoom(ann, room, 'Ann');
  await joinRoom(ben, room, 'Ben');
  await Promise.all([waitForRemoteFrames(ann, 1), waitForRemoteFrames(ben, 1)]);
  for (const page of [ann, ben]) {
    const pairs = await selectedPairTypes(page);
    assert.equal(pairs.length, 1, `${page.label}: ${JSON.stringify(pairs)}`);
    assert.deepEqual(pairs[0], { local: 'relay', remote: 'relay', policy: 'relay' }, page.label);
  }
  await ann.context().close();
  await ben.context().close();
});
