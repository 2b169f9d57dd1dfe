// Connection quality from RTCPeerConnection.getStats(): round-trip time, packet loss and
// bitrate per peer, and the audio levels (theirs and our own microphone's) for the active
// speaker. No UI in here.

/** Reads one sample; pass the previous sample of the same connection to get rates. */
export async function sample(pc, previous) {
  const report = await pc.getStats();
  const now = performance.now();
  let rtt = null;
  let bytesIn = 0;
  let bytesOut = 0;
  let lost = 0;
  let received = 0;
  let audioLevel = 0;
  let localAudioLevel = 0;
  const audioIn = {}; // inbound audio stream id → {energy, duration} (totals so far)
  let localAudio = null;
  let pairId = null;
  report.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  report.forEach((r) => {
    if (r.type === 'candidate-pair' && (r.id === pairId || (!pairId && r.nominated && r.state === 'succeeded'))) {
      if (typeof r.currentRoundTripTime === 'number') rtt = r.currentRoundTripTime * 1000;
    } else if (r.type === 'inbound-rtp') {
      bytesIn += r.bytesReceived || 0;
      lost += Math.max(0, r.packetsLost || 0);
      received += r.packetsReceived || 0;
      if (r.kind === 'audio' && typeof r.audioLevel === 'number') audioLevel = Math.max(audioLevel, r.audioLevel);
      if (r.kind === 'audio' && typeof r.totalAudioEnergy === 'number') {
        audioIn[r.id] = { energy: r.totalAudioEnergy, duration: r.totalSamplesDuration || 0 };
      }
    } else if (r.type === 'outbound-rtp') {
      bytesOut += r.bytesSent || 0;
    } else if (r.type === 'media-source' && r.kind === 'audio' && typeof r.audioLevel === 'number') {
      // Our microphone as the browser captures it (before the track's `enabled` silences it).
      localAudioLevel = Math.max(localAudioLevel, r.audioLevel);
      if (typeof r.totalAudioEnergy === 'number') localAudio = { energy: r.totalAudioEnergy, duration: r.totalSamplesDuration || 0 };
    }
  });
  const s = { at: now, rtt, bytesIn, bytesOut, lost, received, audioLevel, localAudioLevel, audioIn, localAudio, kbpsIn: null, kbpsOut: null, loss: null };
  if (previous) {
    // The audio levels over the whole interval (root mean square of the energy since the
    // previous sample) rather than at the instant of this one: a voice has pauses, and who
    // is highlighted should not depend on where the sample happens to land.
    const rms = (a, b) => {
      const d = a && b ? a.duration - b.duration : 0;
      return d > 0 ? Math.sqrt(Math.max(0, a.energy - b.energy) / d) : null;
    };
    let over = null;
    for (const [id, a] of Object.entries(audioIn)) {
      const l = rms(a, previous.audioIn?.[id]);
      if (l !== null) over = Math.max(over ?? 0, l);
    }
    if (over !== null) s.audioLevel = over;
    const own = rms(localAudio, previous.localAudio);
    if (own !== null) s.localAudioLevel = own;
    const dt = (now - previous.at) / 1000;
    if (dt > 0) {
      s.kbpsIn = Math.max(0, ((bytesIn - previous.bytesIn) * 8) / 1000 / dt);
      s.kbpsOut = Math.max(0, ((bytesOut - previous.bytesOut) * 8) / 1000 / dt);
    }
    const dl = lost - previous.lost;
    const dr = received - previous.received;
    s.loss = dl + dr > 0 ? (100 * dl) / (dl + dr) : 0;
  }
  return s;
}

/** 'good' | 'fair' | 'poor' | 'unknown' from a sample. */
export function quality(s) {
  if (!s || s.rtt === null) return 'unknown';
  if (s.rtt > 400 || (s.loss ?? 0) > 8) return 'poor';
  if (s.rtt > 150 || (s.loss ?? 0) > 2) return 'fair';
  return 'good';
}
