// Local camera and microphone, with fallbacks:
//   audio+video → video only / audio only → receive only.
// Returns {stream, message}: `stream` may be null (receive only); `message` says in plain
// words what is missing and why, or is null when everything works.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 } };

function reason(err) {
  if (!err) return null;
  if (err.name === 'NotAllowedError' || err.name === 'SecurityError') return 'blocked';
  if (err.name === 'NotFoundError' || err.name === 'OverconstrainedError') return 'missing';
  if (err.name === 'NotReadableError' || err.name === 'AbortError') return 'busy';
  return 'failed';
}

async function tryGet(constraints) {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia(constraints), error: null };
  } catch (error) {
    return { stream: null, error };
  }
}

function describe(camera, microphone) {
  // camera / microphone: null when working, else 'blocked' | 'missing' | 'busy' | 'failed'
  const words = {
    blocked: 'blocked',
    missing: 'not found',
    busy: 'in use by another app',
    failed: 'not available',
  };
  if (camera && microphone) {
    if (camera === microphone) {
      const what = camera === 'missing' ? 'No camera or microphone found' : `Camera and microphone ${words[camera]}`;
      return `${what} — you can still see and hear others`;
    }
    return `Camera ${words[camera]} and microphone ${words[microphone]} — you can still see and hear others`;
  }
  if (camera) {
    const what = camera === 'missing' ? 'No camera found' : `Camera ${words[camera]}`;
    return `${what} — others can hear you but not see you`;
  }
  if (microphone) {
    const what = microphone === 'missing' ? 'No microphone found' : `Microphone ${words[microphone]}`;
    return `${what} — others can see you but not hear you`;
  }
  return null;
}

export async function getLocalMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return {
      stream: null,
      message: 'Camera and microphone need a secure (https) page — you can still see and hear others',
    };
  }
  const both = await tryGet({ audio: true, video: VIDEO });
  if (both.stream) return { stream: both.stream, message: null };

  const video = await tryGet({ video: VIDEO });
  const audio = await tryGet({ audio: true });
  const tracks = [...(video.stream?.getTracks() || []), ...(audio.stream?.getTracks() || [])];
  const stream = tracks.length ? new MediaStream(tracks) : null;
  const camera = reason(video.error);
  const microphone = reason(audio.error);
  return { stream, message: describe(camera, microphone) };
}

export function stopStream(stream) {
  if (stream) for (const t of stream.getTracks()) t.stop();
}

/**
 * A fresh camera track (after "Turn camera on"). `deviceId` asks for the camera used before.
 * Resolves with the track, or rejects with a message in plain words.
 */
export async function getCameraTrack(deviceId, exact = false) {
  const video = deviceId ? { ...VIDEO, deviceId: exact ? { exact: deviceId } : { ideal: deviceId } } : VIDEO;
  try {
    const s = await navigator.mediaDevices.getUserMedia({ video });
    return s.getVideoTracks()[0];
  } catch (err) {
    const words = { blocked: 'blocked', missing: 'not found', busy: 'in use by another app', failed: 'not available' };
    throw new Error(`Camera ${words[reason(err)]}`);
  }
}

/** The cameras, microphones and speakers the browser lists (labels once permission is given). */
export async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
    return { cameras: [], microphones: [], speakers: [] };
  }
  const all = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  const of = (kind) => all.filter((d) => d.kind === kind && d.deviceId);
  return { cameras: of('videoinput'), microphones: of('audioinput'), speakers: of('audiooutput') };
}

/** Whether audio output can be chosen (HTMLMediaElement.setSinkId). */
export const canChooseSpeaker = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;

/** A microphone track from exactly `deviceId`. */
export async function getMicTrack(deviceId) {
  try {
    const s = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: deviceId } } });
    return s.getAudioTracks()[0];
  } catch (err) {
    const words = { blocked: 'blocked', missing: 'not found', busy: 'in use by another app', failed: 'not available' };
    throw new Error(`Microphone ${words[reason(err)]}`);
  }
}
