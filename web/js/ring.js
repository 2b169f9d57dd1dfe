// A ring tone for incoming calls, made with WebAudio (no sound file): two short 440/480 Hz
// bursts every 3 seconds, like a phone. Browsers may keep audio suspended until the page has
// had a user gesture; then the ring is silent and the dialog alone announces the call.

export function startRing() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return () => {};
  let ctx;
  try {
    ctx = new Ctx();
  } catch {
    return () => {};
  }
  ctx.resume().catch(() => {});
  const gain = ctx.createGain();
  gain.gain.value = 0;
  gain.connect(ctx.destination);
  for (const f of [440, 480]) {
    const osc = ctx.createOscillator();
    osc.frequency.value = f;
    osc.connect(gain);
    osc.start();
  }
  const burst = () => {
    const t = ctx.currentTime;
    gain.gain.setValueAtTime(0, t);
    gain.gain.linearRampToValueAtTime(0.12, t + 0.05);
    gain.gain.setValueAtTime(0.12, t + 0.9);
    gain.gain.linearRampToValueAtTime(0, t + 1.0);
  };
  burst();
  const timer = setInterval(burst, 3_000);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    ctx.close().catch(() => {});
  };
}
