// Confer web client: the controller. It owns the state, speaks the protocol through
// Signaling and Peer, and hands state to the UI modules to render.
import { Signaling } from './signaling.js';
import { Peer } from './peer.js';
import {
  getLocalMedia, getCameraTrack, getMicTrack, listDevices, canChooseSpeaker, stopStream,
} from './media.js';
import { renderHome } from './ui/home.js';
import { renderPrejoin } from './ui/prejoin.js';
import { showIncoming } from './ui/incoming.js';
import { CallView } from './ui/call.js';
import { initNotices, showNotice, clearNotice, showConnectionLost } from './ui/notice.js';
import {
  renderSignup, renderSignin, renderForgot, renderReset, renderAccount, renderSignInRequired, signInLink,
} from './ui/accounts.js';
import { renderCalls } from './ui/calls.js';
import { api, fetchMe } from './api.js';
import { startRing } from './ring.js';
import { sample, quality } from './stats.js';

const NAME_KEY = 'confer.name';
const ONLINE_KEY = 'confer.online';
const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_BUFFERED_SIGNALS = 200;

const root = document.getElementById('screen');
initNotices(document.getElementById('notice'), document.getElementById('connection'));

const sig = new Signaling();

const state = {
  user: null, // the signed-in account {id, username, email}, or null for a guest
  welcome: null,
  name: loadName(),
  wantRegistered: localStorage.getItem(ONLINE_KEY) === '1' ? loadName() || null : null,
  registered: null,
  regError: null,
  lastRequest: null,
  outgoing: null, // {user, call}
  incoming: null, // {call, from, close}
  mode: null, // null | 'room' | 'call'
  room: null,
  roomPassword: '', // what we gave (or set) to get into the room; sent again on a rejoin
  roomHost: null, // the id of the room's host, from joined / room_state
  roomLocked: false,
  selfId: null,
  selfName: null,
  joining: false,
  activeCall: null, // {call, peer}
  local: null, // {stream, message}
  localPromise: null,
  mic: true,
  cam: true,
  hasCamera: false, // the local media had a camera (its track may be stopped while "off")
  camDevice: null, // deviceId of the camera in use, to get the same one back
  camGen: 0, // bumps on every camera toggle, so a slow getUserMedia cannot undo a later one
  screenStream: null, // our screen share, sent to every peer as a second stream
  speaker: null, // chosen audio output (setSinkId), or null for the default
  peers: new Map(),
  pendingSignals: new Map(),
  screen: null, // 'home' | 'prejoin' | 'call'
  home: null, // home UI handle
  prejoin: null, // prejoin UI handle
  callView: null,
};

function loadName() {
  try {
    return localStorage.getItem(NAME_KEY) || '';
  } catch {
    return '';
  }
}

function saveName(name) {
  state.name = name;
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // private mode: not remembered, that's all
  }
}

function validName(name) {
  // eslint-disable-next-line no-control-regex
  return name.length >= 1 && [...name].length <= 32 && !/[\u0000-\u001f\u007f-\u009f]/.test(name);
}

function send(msg) {
  if (['register', 'join', 'call', 'accept', 'decline', 'cancel'].includes(msg.type)) {
    state.lastRequest = msg;
  }
  return sig.send(msg);
}

// ---------------------------------------------------------------- media

function ensureMedia() {
  if (state.local) return Promise.resolve(state.local);
  if (!state.localPromise) {
    state.localPromise = getLocalMedia().then((local) => {
      state.local = local;
      state.localPromise = null;
      const video = local.stream?.getVideoTracks()[0];
      state.hasCamera = !!video;
      state.camDevice = video?.getSettings?.().deviceId || null;
      applyTrackState();
      return local;
    });
  }
  return state.localPromise;
}

function releaseMedia() {
  if (state.local) stopStream(state.local.stream);
  state.local = null;
  state.mic = true;
  state.cam = true;
  state.hasCamera = false;
  state.camDevice = null;
  state.camGen += 1;
}

function applyTrackState() {
  const stream = state.local?.stream;
  if (!stream) return;
  for (const t of stream.getAudioTracks()) t.enabled = state.mic;
  for (const t of stream.getVideoTracks()) t.enabled = state.cam;
}

function mediaState() {
  const stream = state.local?.stream;
  return {
    audio: !!stream && stream.getAudioTracks().length > 0 && state.mic,
    video: !!stream && state.hasCamera && state.cam && stream.getVideoTracks().length > 0,
    screen: !!state.screenStream,
  };
}

/**
 * "Turn camera off" stops the track, so the device is released (its light goes off), and
 * every peer connection sends nothing in its place; "Turn camera on" gets a new track and puts
 * it into the same senders with replaceTrack: no renegotiation.
 */
async function setCamera(on) {
  const stream = state.local?.stream;
  if (!stream || !state.hasCamera) return;
  const gen = ++state.camGen;
  state.cam = on;
  if (!on) {
    for (const t of stream.getVideoTracks()) {
      state.camDevice = t.getSettings?.().deviceId || state.camDevice;
      t.stop();
      stream.removeTrack(t);
    }
    for (const p of state.peers.values()) p.setVideoTrack(null, stream).catch((e) => console.warn('camera off', e));
    send({ type: 'media', ...mediaState() });
    return;
  }
  let track;
  try {
    track = await getCameraTrack(state.camDevice);
  } catch (e) {
    if (gen !== state.camGen) return;
    state.cam = false;
    state.callView?.setCamOn(false);
    showNotice(`${e.message} — others cannot see you`, 'error');
    return;
  }
  if (gen !== state.camGen || state.local?.stream !== stream) {
    track.stop(); // turned off again, or the call ended, while the camera was starting
    return;
  }
  state.camDevice = track.getSettings?.().deviceId || state.camDevice;
  stream.addTrack(track);
  await Promise.all([...state.peers.values()].map((p) => p.setVideoTrack(track, stream)
    .catch((e) => console.warn('camera on', e))));
  state.callView?.setSelfVideo(stream);
  send({ type: 'media', ...mediaState() });
}

// ---------------------------------------------------------------- devices

/** The pickers of whichever screen shows them, filled with what the browser lists now. */
async function refreshDevices() {
  const devices = await listDevices();
  const stream = state.local?.stream;
  const audio = stream?.getAudioTracks()[0];
  const video = stream?.getVideoTracks()[0];
  const current = {
    camera: video?.getSettings?.().deviceId || state.camDevice,
    microphone: audio?.getSettings?.().deviceId,
    speaker: state.speaker,
    hasCamera: state.hasCamera,
    hasMicrophone: !!audio,
    canChooseSpeaker,
  };
  state.callView?.devices.update(devices, current);
  state.prejoin?.devices.update(devices, current);
  return devices;
}

if (navigator.mediaDevices?.addEventListener) {
  navigator.mediaDevices.addEventListener('devicechange', () => { if (state.local) refreshDevices(); });
}

/**
 * Another camera: the old track is stopped first (phones cannot open two cameras at once),
 * and the new one goes into the same senders with replaceTrack.
 */
async function useCamera(deviceId) {
  const stream = state.local?.stream;
  if (!stream || !state.hasCamera) return;
  const previous = state.camDevice;
  state.camDevice = deviceId;
  if (!state.cam) { refreshDevices(); return; } // used when the camera is turned on
  const gen = ++state.camGen;
  for (const t of stream.getVideoTracks()) { t.stop(); stream.removeTrack(t); }
  let track;
  try {
    track = await getCameraTrack(deviceId, true);
  } catch (e) {
    showNotice(e.message, 'error');
    try {
      track = await getCameraTrack(previous);
    } catch {
      track = null;
    }
  }
  if (gen !== state.camGen || state.local?.stream !== stream) {
    track?.stop();
    return;
  }
  if (track) {
    state.camDevice = track.getSettings?.().deviceId || deviceId;
    stream.addTrack(track);
  }
  await Promise.all([...state.peers.values()].map((p) => p.setVideoTrack(track, stream)
    .catch((e) => console.warn('switch camera', e))));
  state.callView?.setSelfVideo(stream);
  if (state.prejoin) state.prejoin.setMedia(stream, state.local.message);
  if (!track) { state.cam = false; state.callView?.setCamOn(false); send({ type: 'media', ...mediaState() }); }
  refreshDevices();
}

/** "Switch camera": the next camera in the list (front/back on a phone). */
async function switchCamera() {
  const { cameras } = await listDevices();
  if (cameras.length < 2) return;
  const i = cameras.findIndex((d) => d.deviceId === state.camDevice);
  await useCamera(cameras[(i + 1) % cameras.length].deviceId);
}

async function useMicrophone(deviceId) {
  const stream = state.local?.stream;
  const old = stream?.getAudioTracks()[0];
  if (!old) return;
  let track;
  try {
    track = await getMicTrack(deviceId);
  } catch (e) {
    showNotice(e.message, 'error');
    refreshDevices();
    return;
  }
  if (state.local?.stream !== stream) { track.stop(); return; }
  track.enabled = state.mic;
  stream.removeTrack(old);
  old.stop();
  stream.addTrack(track);
  await Promise.all([...state.peers.values()].map((p) => p.setAudioTrack(track).catch((e) => console.warn('microphone', e))));
  refreshDevices();
}

function useSpeaker(deviceId) {
  state.speaker = deviceId;
  state.callView?.setSinkId(deviceId);
}

const deviceActions = {
  onCamera: (id) => useCamera(id),
  onMicrophone: (id) => useMicrophone(id),
  onSpeaker: (id) => useSpeaker(id),
  onSwitchCamera: () => switchCamera(),
};

// ---------------------------------------------------------------- screen sharing

async function startScreen() {
  if (state.screenStream) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
  } catch (e) {
    state.callView?.setScreenOn(false);
    if (e.name !== 'NotAllowedError' && e.name !== 'AbortError') showNotice('Screen sharing is not available here', 'error');
    return;
  }
  if (!state.mode || !state.callView?.screenOn) {
    stopStream(stream); // left, or "Stop sharing" was pressed while the browser asked
    return;
  }
  adoptScreen(stream);
  for (const p of state.peers.values()) p.addScreen(stream);
  state.callView.setScreen('self', state.selfName, stream);
  send({ type: 'media', ...mediaState() });
}

function adoptScreen(stream) {
  state.screenStream = stream;
  // The browser's own "Stop sharing" bar ends the track.
  for (const t of stream.getVideoTracks()) t.addEventListener('ended', () => { if (state.screenStream === stream) stopScreen(); });
}

function stopScreen() {
  const stream = state.screenStream;
  if (!stream) return;
  state.screenStream = null;
  stopStream(stream);
  for (const p of state.peers.values()) p.removeScreen();
  state.callView?.setScreenOn(false);
  state.callView?.setScreen('self', '', null);
  if (state.mode) send({ type: 'media', ...mediaState() });
}

// ---------------------------------------------------------------- chat

const CHAT_MAX = 2000;

/**
 * Chat goes over every peer's data channel when all of them are open; otherwise through the
 * server (which reaches everyone in the room or call), so nobody gets a message twice.
 */
function sendChat(text) {
  if ([...text].length > CHAT_MAX) {
    showNotice(`Messages are at most ${CHAT_MAX} characters`, 'error');
    return false;
  }
  const peers = [...state.peers.values()];
  const at = Date.now();
  let via = 'p2p';
  if (peers.length > 0 && peers.every((p) => p.channelOpen)) {
    for (const p of peers) p.sendData({ type: 'chat', text });
  } else {
    via = 'server';
    if (!send({ type: 'chat', text })) {
      showNotice('Not connected — the message was not sent', 'error');
      return false;
    }
  }
  state.callView?.addChat({ name: state.selfName || 'Me', text, at, self: true, via });
  return true;
}

function onPeerData(id, msg) {
  if (msg.type !== 'chat' || typeof msg.text !== 'string') return;
  const text = msg.text.trim();
  if (!text || [...text].length > CHAT_MAX) return;
  const name = state.peers.get(id)?.name || 'Someone';
  // Our own clock: the other side's may be wrong.
  state.callView?.addChat({ name, text, at: Date.now(), via: 'p2p' });
}

function onServerChat(msg) {
  if (typeof msg.text !== 'string') return;
  const name = msg.name || state.peers.get(msg.from)?.name || 'Someone';
  state.callView?.addChat({ name, text: msg.text, at: Number(msg.at), via: 'server' });
}

// ---------------------------------------------------------------- routing

function roomFromPath() {
  const m = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

function navigate(path) {
  if (location.pathname + location.search !== path) history.pushState(null, '', path);
  route();
}

const PAGES = {
  '/signup': () => showSignup(),
  '/signin': () => showSignin(),
  '/forgot': () => showForgot(),
  '/reset': () => showReset(),
  '/account': () => showAccount(),
  '/calls': () => showCalls(),
};

function route() {
  const room = roomFromPath();
  if (state.mode) leaveCurrent({ quiet: true });
  clearNotice();
  const page = PAGES[location.pathname.replace(/\/$/, '')];
  if (room !== null) showPrejoin(room);
  else if (page) page();
  else showHome();
}

window.addEventListener('popstate', () => route());

// Links inside the client (marked data-route) change the screen without reloading the page.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[data-route]');
  if (!a || a.origin !== location.origin) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
});

/** After signing in or out: load the page afresh so the WebSocket carries the new cookie. */
function reloadAt(path) {
  sig.close();
  location.assign(path);
}

// ---------------------------------------------------------------- home

const WORDS_A = ['blue', 'green', 'red', 'amber', 'quiet', 'swift', 'bright', 'calm', 'brave', 'lucky', 'silver', 'golden'];
const WORDS_B = ['fox', 'owl', 'otter', 'lynx', 'heron', 'panda', 'tiger', 'whale', 'raven', 'badger', 'koala', 'falcon'];

function randomRoomName() {
  const r = new Uint32Array(3);
  crypto.getRandomValues(r);
  return `${WORDS_A[r[0] % WORDS_A.length]}-${WORDS_B[r[1] % WORDS_B.length]}-${10 + (r[2] % 90)}`;
}

function showHome(callee) {
  state.screen = 'home';
  state.prejoin = null;
  state.callView = null;
  if (!state.outgoing && !state.incoming) releaseMedia();
  document.title = 'Confer';
  state.home = renderHome(root, { ...homeState(), callee }, {
    onRegister: (name) => register(name),
    onCreateRoom: () => navigate(`/r/${randomRoomName()}`),
    onJoinRoom: (room) => {
      if (!ROOM_RE.test(room)) {
        showNotice('Room names use 1–64 letters, digits, "-", "_" or "." (no spaces)', 'error');
        return;
      }
      navigate(`/r/${encodeURIComponent(room)}`);
    },
    onCall: (user, name) => callUser(user, name),
    onCancel: () => cancelOutgoing(),
    onSignOut: () => signOut(),
  });
}

function homeState() {
  return {
    name: state.name,
    user: state.user,
    online: sig.connected,
    registered: state.registered,
    regError: state.regError,
    outgoing: state.outgoing,
  };
}

function renderHomeState() {
  if (state.screen === 'home' && state.home) state.home.update(homeState());
}

/** Sends `register`; resolves true once registered, false on error. */
async function register(name) {
  if (!validName(name)) {
    state.regError = 'Names are 1–32 characters, without control characters';
    renderHomeState();
    return false;
  }
  saveName(name);
  state.wantRegistered = name;
  try {
    localStorage.setItem(ONLINE_KEY, '1');
  } catch {
    // not remembered
  }
  if (state.registered && state.registered === name) return true;
  state.regError = null;
  if (!send({ type: 'register', name })) {
    state.regError = 'Not connected — you will be reachable once the connection is back';
    renderHomeState();
    return false;
  }
  try {
    const answer = await sig.waitFor(['registered', 'error'], 10_000);
    return answer.type === 'registered';
  } catch {
    return false;
  }
}

function onRegistered(msg) {
  state.registered = msg.name;
  state.regError = null;
  renderHomeState();
}

async function callUser(user, nameField) {
  if (state.outgoing || state.mode) return;
  if (!user) {
    showNotice('Enter the username of the person to call', 'error');
    return;
  }
  if (state.user) {
    // Signed in: the server made us callable under our username when we connected.
    if (!state.registered) {
      showNotice('Not connected — try again in a moment', 'error');
      return;
    }
  } else if (!state.registered || (nameField && nameField !== state.registered)) {
    if (!nameField) {
      showNotice('Enter your name first, so the other side knows who is calling', 'error');
      return;
    }
    if (!(await register(nameField))) return;
  }
  clearNotice();
  state.outgoing = { user, call: null };
  renderHomeState();
  if (!send({ type: 'call', user })) {
    state.outgoing = null;
    renderHomeState();
    showNotice('Not connected — try again in a moment', 'error');
    return;
  }
  ensureMedia(); // get the camera ready while it rings
}

function cancelOutgoing() {
  const out = state.outgoing;
  if (!out) return;
  if (out.call) send({ type: 'cancel', call: out.call });
  else send({ type: 'hangup' });
  state.outgoing = null;
  releaseMedia();
  renderHomeState();
  showNotice('Call cancelled');
}

function endOutgoing(text, kind = 'info') {
  state.outgoing = null;
  releaseMedia();
  renderHomeState();
  showNotice(text, kind);
}

// ---------------------------------------------------------------- incoming calls

function onIncomingCall(msg) {
  if (state.incoming) state.incoming.close();
  const from = msg.from || {};
  const incoming = { call: msg.call, from, close: () => {} };
  const stopRing = startRing();
  const previousTitle = document.title;
  document.title = `Incoming call from ${from.name || 'someone'} — Confer`;
  const closeDialog = showIncoming(from.name || 'Someone', {
    onAnswer: async () => {
      await ensureMedia();
      if (state.incoming !== incoming) return; // cancelled meanwhile
      send({ type: 'accept', call: msg.call });
    },
    onDecline: () => {
      send({ type: 'decline', call: msg.call });
      closeIncoming();
      showNotice(`You declined the call from ${from.name || 'someone'}`);
    },
  });
  incoming.close = () => {
    stopRing();
    closeDialog();
    if (document.title.startsWith('Incoming call')) document.title = previousTitle;
  };
  state.incoming = incoming;
}

function closeIncoming() {
  if (!state.incoming) return;
  state.incoming.close();
  state.incoming = null;
  if (!state.mode && !state.outgoing && state.screen === 'home') releaseMedia();
}

// ---------------------------------------------------------------- calls by name

async function onCallAccepted(msg) {
  const peer = msg.peer;
  if (state.incoming && state.incoming.call === msg.call) {
    state.incoming.close();
    state.incoming = null;
  }
  state.outgoing = null;
  state.mode = 'call';
  state.activeCall = { call: msg.call, peer };
  state.selfName = state.registered || state.name || 'Me';
  clearNotice();
  if (location.pathname !== '/') history.pushState(null, '', '/');
  showCallView(`Call with ${peer.name}`);
  const local = await ensureMedia();
  if (state.mode !== 'call' || state.activeCall?.call !== msg.call) return;
  state.callView.setLocal(state.selfName, local.stream, local.message);
  if (state.speaker) state.callView.setSinkId(state.speaker);
  refreshDevices();
  createPeer(peer, local.stream);
  send({ type: 'media', ...mediaState() });
}

function onCallEnded(msg) {
  if (state.activeCall && state.activeCall.call === msg.call) {
    const name = state.activeCall.peer.name;
    const text = msg.reason === 'disconnected' ? `Call ended — ${name} lost the connection` : 'Call ended';
    endActiveCall(text);
    return;
  }
  if (state.incoming && state.incoming.call === msg.call) closeIncoming();
  if (state.outgoing && state.outgoing.call === msg.call) endOutgoing('Call ended');
}

function endActiveCall(text) {
  stopScreen();
  teardownPeers();
  state.mode = null;
  state.activeCall = null;
  releaseMedia();
  showHome();
  if (text) showNotice(text);
}

// ---------------------------------------------------------------- rooms

function showPrejoin(room) {
  state.screen = 'prejoin';
  state.home = null;
  state.callView = null;
  state.room = room;
  state.joining = false;
  document.title = `${room} — Confer`;
  if (!ROOM_RE.test(room)) {
    showHome();
    showNotice('Room names use 1–64 letters, digits, "-", "_" or "." (no spaces)', 'error');
    return;
  }
  const ui = renderPrejoin(root, { room, name: state.name || state.user?.username || '' }, {
    onJoin: (name, password) => joinRoom(name, password),
    onJoinWithScreen: (name, password) => joinWithScreen(name, password),
    deviceActions,
  });
  state.prejoin = ui;
  ensureMedia().then((local) => {
    if (state.prejoin !== ui) return;
    ui.setMedia(local.stream, local.message);
    refreshDevices();
  });
}

/** `join` for the room we are entering (or re-entering), with the password if there is one. */
function joinMessage() {
  const msg = { type: 'join', room: state.room, name: state.selfName };
  if (state.roomPassword) msg.password = state.roomPassword;
  return msg;
}

async function joinRoom(name, password = '') {
  if (!validName(name)) {
    showNotice('Enter your name (1–32 characters) to join', 'error');
    return;
  }
  state.roomPassword = password || '';
  saveName(name);
  state.selfName = name;
  state.joining = true;
  state.prejoin?.setBusy(true);
  clearNotice();
  await ensureMedia();
  if (!state.joining) return;
  if (!send(joinMessage())) {
    // Not connected yet (or reconnecting): the join goes out with the next `welcome`.
    showNotice('Connecting to the server — you will join as soon as it answers');
  }
}

/** No camera: pick a screen first (the click is the user gesture it needs), then join. */
async function joinWithScreen(name, password) {
  if (!validName(name)) {
    showNotice('Enter your name (1–32 characters) to join', 'error');
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
  } catch {
    showNotice('No screen was chosen — you can still join without video');
    return;
  }
  if (state.screen !== 'prejoin') { stopStream(stream); return; }
  adoptScreen(stream);
  joinRoom(name, password);
}

function onJoined(msg) {
  const rejoin = state.mode === 'room';
  if (state.joining) clearNotice();
  state.joining = false;
  state.mode = 'room';
  state.room = msg.room;
  state.selfName = msg.you?.name || state.selfName;
  state.selfId = msg.you?.id || null;
  state.roomHost = msg.host || null;
  state.roomLocked = !!msg.locked;
  if (!rejoin || !state.callView) showCallView(`Room ${msg.room}`);
  renderRoomControl();
  const local = state.local || { stream: null, message: null };
  state.callView.setLocal(state.selfName, local.stream, local.message);
  if (state.speaker) state.callView.setSinkId(state.speaker);
  refreshDevices();
  if (state.screenStream) {
    state.callView.setScreenOn(true);
    state.callView.setScreen('self', state.selfName, state.screenStream);
  }
  for (const p of msg.peers || []) createPeer(p, local.stream);
  send({ type: 'media', ...mediaState() });
}

function onRoomFull(msg) {
  if (state.mode !== 'room') stopScreen(); // a screen picked for "Join with screen share"
  state.joining = false;
  state.prejoin?.setBusy(false);
  if (state.mode === 'room') {
    // a rejoin after reconnecting found the room full
    teardownPeers();
    state.mode = null;
    showPrejoin(msg.room || state.room);
  }
  showNotice(`This room is full (${msg.capacity} people)`, 'error');
}

/** Who sees the host's controls, and the lock everyone sees. */
function renderRoomControl() {
  state.callView?.setRoomControl({
    isHost: state.mode === 'room' && !!state.selfId && state.roomHost === state.selfId,
    locked: state.mode === 'room' && state.roomLocked,
  });
}

function onRoomState(msg) {
  if (state.mode !== 'room' || (msg.room && msg.room !== state.room)) return;
  const wasHost = state.roomHost === state.selfId;
  state.roomHost = msg.host || null;
  state.roomLocked = !!msg.locked;
  renderRoomControl();
  if (!wasHost && state.roomHost === state.selfId) showNotice('You are now the host of this room');
}

/** Back to the pre-join screen of the room we were in, with a notice saying why. */
function leftRoomBecause(text) {
  stopScreen();
  teardownPeers();
  state.mode = null;
  state.roomHost = null;
  state.roomLocked = false;
  showPrejoin(state.room);
  showNotice(text, 'error');
}

function onRemoved(msg) {
  if (state.mode !== 'room' || (msg.room && msg.room !== state.room)) return;
  leftRoomBecause('The host removed you from the room');
}

function onPeerJoined(msg) {
  if (state.mode !== 'room') return;
  createPeer(msg.peer, state.local?.stream || null);
}

function onPeerLeft(msg) {
  const id = typeof msg.peer === 'string' ? msg.peer : msg.peer?.id;
  removePeer(id);
}

async function rejoinRoom() {
  if (state.mode !== 'room') return;
  teardownPeers();
  state.callView?.clearPeers();
  send({ type: 'leave' });
  try {
    await sig.waitFor(['left', 'error'], 10_000);
  } catch {
    // fall through: join anyway
  }
  if (state.mode === 'room') send(joinMessage());
}

// ---------------------------------------------------------------- the call view

function showCallView(title) {
  document.title = `${title} — Confer`;
  state.screen = 'call';
  state.home = null;
  state.prejoin = null;
  state.callView = new CallView(root, {
    title,
    onLeave: () => leaveCurrent(),
    onToggleMic: (on) => { state.mic = on; applyTrackState(); send({ type: 'media', ...mediaState() }); },
    onToggleCam: (on) => { setCamera(on); },
    onSendChat: (text) => sendChat(text),
    roomLink: state.mode === 'room' ? `${location.origin}/r/${encodeURIComponent(state.room)}` : null,
    deviceActions,
    onCopied: (ok, link) => showNotice(ok ? 'Link copied' : `Share this link: ${link}`),
    onToggleScreen: (on) => { if (on) startScreen(); else stopScreen(); },
    onLock: (locked) => { if (state.mode === 'room') send({ type: 'lock', locked }); },
    onRemove: (peer) => { if (state.mode === 'room') send({ type: 'remove', peer }); },
    onNeedsGesture: () => {
      showNotice('Click or tap anywhere to hear the others');
      document.addEventListener('click', () => state.callView?.unmuteRemotes(), { once: true });
    },
  });
}

function leaveCurrent({ quiet = false } = {}) {
  if (state.mode === 'call') {
    send({ type: 'hangup' });
    endActiveCall(quiet ? null : 'Call ended');
    if (!quiet && location.pathname !== '/') history.pushState(null, '', '/');
  } else if (state.mode === 'room') {
    stopScreen();
    send({ type: 'leave' });
    teardownPeers();
    state.mode = null;
    const room = state.room;
    if (!quiet) {
      showPrejoin(room);
      showNotice('You left the room');
    }
  }
}

// Keyboard shortcuts in a call (listed in the call view's help text): m = microphone,
// v = camera. Not while typing, and not with modifier keys (those belong to the browser).
document.addEventListener('keydown', (e) => {
  // Escape leaves a tile's full screen. Browsers with their own window handle it before the
  // page sees the key; where none does (headless Chromium, some embedded web views) the key
  // reaches us with the tile still filling the screen.
  if (e.key === 'Escape' && document.fullscreenElement && state.screen === 'call') {
    document.exitFullscreen().catch(() => {});
    return;
  }
  if (state.screen !== 'call' || !state.callView || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const t = e.target;
  if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
  const key = e.key.toLowerCase();
  if (key === 'm') state.callView.shortcut('mic');
  else if (key === 'v') state.callView.shortcut('cam');
  else return;
  e.preventDefault();
});

// Every 2 s: connection quality per peer, and who is speaking: the loudest audio above a
// threshold — someone else's, or our own microphone's (the self tile) while it is not muted.
const STATS_MS = 2_000;
const SPEAKING_LEVEL = 0.05;
setInterval(async () => {
  if (state.screen !== 'call' || !state.callView) return;
  let loudest = null;
  let level = SPEAKING_LEVEL;
  let ownLevel = 0;
  for (const [id, peer] of state.peers) {
    if (peer.closed) continue;
    try {
      const s = await sample(peer.pc, peer.lastStats);
      peer.lastStats = s;
      state.callView?.setPeerStats(id, quality(s), s);
      if (s.audioLevel > level) { level = s.audioLevel; loudest = id; }
      ownLevel = Math.max(ownLevel, s.localAudioLevel);
    } catch {
      // the connection closed meanwhile
    }
  }
  if (mediaState().audio && ownLevel > level) loudest = 'self';
  state.callView?.setActiveSpeaker(loudest);
}, STATS_MS);

// ---------------------------------------------------------------- peers

function rtcConfig() {
  const w = state.welcome || {};
  return {
    iceServers: Array.isArray(w.ice_servers) ? w.ice_servers : [],
    iceTransportPolicy: w.ice_transport_policy === 'relay' ? 'relay' : 'all',
  };
}

function createPeer(info, stream) {
  if (!info || !info.id) return;
  if (state.peers.has(info.id)) removePeer(info.id);
  const peer = new Peer({
    id: info.id,
    name: info.name,
    polite: info.polite,
    rtcConfig: rtcConfig(),
    localStream: stream,
    sendSignal: (payload) => sig.send({ type: 'signal', to: info.id, ...payload }),
    onStream: (remote) => state.callView?.setPeerStream(info.id, remote),
    onState: (s) => {
      state.callView?.setPeerState(info.id, s);
      if (s === 'failed' || s === 'disconnected') console.info(`connection to ${info.name}: ${s}`);
    },
    onData: (msg) => onPeerData(info.id, msg),
    onScreen: (screen) => state.callView?.setScreen(info.id, info.name, screen),
    onFailed: () => {
      if (state.mode === 'room') rejoinRoom();
      else showNotice(`The connection to ${info.name} is failing…`, 'error');
    },
  });
  state.peers.set(info.id, peer);
  if (state.screenStream) peer.addScreen(state.screenStream);
  state.callView?.addPeer(info.id, info.name, info.media);
  const buffered = state.pendingSignals.get(info.id);
  state.pendingSignals.delete(info.id);
  for (const m of buffered || []) peer.handleSignal(m);
}

function removePeer(id) {
  const peer = state.peers.get(id);
  if (peer) peer.close();
  state.peers.delete(id);
  state.pendingSignals.delete(id);
  state.callView?.removePeer(id);
}

function teardownPeers() {
  for (const id of [...state.peers.keys()]) removePeer(id);
  state.pendingSignals.clear();
}

function onSignal(msg) {
  const peer = state.peers.get(msg.from);
  if (peer) {
    peer.handleSignal(msg);
    return;
  }
  // Can come before the peer exists (e.g. while the camera is still starting): keep it.
  if (!state.mode) return;
  const list = state.pendingSignals.get(msg.from) || [];
  if (list.length < MAX_BUFFERED_SIGNALS) list.push(msg);
  state.pendingSignals.set(msg.from, list);
}

// ---------------------------------------------------------------- errors

function onError(msg) {
  const req = state.lastRequest || {};
  if (req.type === 'join' && !state.mode && state.screenStream) stopScreen(); // the join failed
  switch (msg.code) {
    case 'name_taken':
      if (req.type === 'join') {
        state.joining = false;
        state.prejoin?.setBusy(false);
        showNotice(msg.message || `The name ${req.name || ''} is already taken — choose another`, 'error');
        return;
      }
      state.regError = msg.message || `The name ${req.name || state.wantRegistered || ''} is already taken — choose another`;
      state.wantRegistered = null;
      state.registered = null;
      renderHomeState();
      if (state.screen !== 'home') showNotice(state.regError, 'error');
      if (state.outgoing && !state.outgoing.call) endOutgoing(state.regError, 'error');
      return;
    case 'invalid_name':
      if (req.type === 'call') {
        endOutgoing(`"${req.user}" is not a valid username`, 'error');
      } else if (req.type === 'join') {
        state.joining = false;
        state.prejoin?.setBusy(false);
        showNotice('Names are 1–32 characters, without control characters', 'error');
      } else {
        state.regError = 'Names are 1–32 characters, without control characters';
        state.wantRegistered = null;
        renderHomeState();
      }
      return;
    case 'user_offline':
      endOutgoing(`${req.user || state.outgoing?.user || 'That person'} is not online`, 'error');
      return;
    case 'cannot_call_self':
      endOutgoing('You cannot call yourself', 'error');
      return;
    case 'already_in_call':
      endOutgoing('You are already in a call', 'error');
      return;
    case 'invalid_room':
      state.joining = false;
      state.prejoin?.setBusy(false);
      showNotice('Room names use 1–64 letters, digits, "-", "_" or "." (no spaces)', 'error');
      return;
    case 'already_in_room':
    case 'busy_in_call':
      state.joining = false;
      state.prejoin?.setBusy(false);
      showNotice('Leave your current call first', 'error');
      return;
    case 'sign_in_required':
      state.joining = false;
      state.prejoin?.setBusy(false);
      if (state.outgoing) endOutgoing('Sign in to make calls on this server', 'error');
      else showNotice('Sign in to use this server', 'error');
      return;
    case 'no_such_call':
      if (state.incoming) {
        closeIncoming();
        showNotice('That call is over');
      }
      return;
    case 'not_a_peer':
      return; // a signal raced with someone leaving (or a removal with their leaving)
    case 'wrong_password':
    case 'room_locked': {
      if (state.mode === 'room') {
        // A rejoin after a lost connection was refused: we are out of the room.
        leftRoomBecause(msg.code === 'room_locked'
          ? 'You lost the connection, and the room was locked meanwhile — the host can unlock it to let you back in'
          : 'You lost the connection, and the room password no longer matches');
        return;
      }
      state.joining = false;
      state.prejoin?.setBusy(false);
      if (msg.code === 'room_locked') {
        showNotice('This room is locked — the host is not letting anyone else in right now. Try again later.', 'error');
      } else {
        const text = req.password
          ? 'Wrong room password — check it and try again'
          : 'This room has a password — enter it to join';
        showNotice(text, 'error');
        state.prejoin?.askPassword(text);
      }
      return;
    }
    case 'not_host':
      renderRoomControl();
      showNotice('Only the host can do that', 'error');
      return;
    default:
      console.warn('server error', msg);
      showNotice(msg.message || 'Something went wrong', 'error');
  }
}

// ---------------------------------------------------------------- signaling events

sig.on('connected', ({ welcome, reconnected, resumed }) => {
  if (resumed) {
    // The server kept our session: same id, same room or call, the peer connections carry on.
    state.welcome = { ...welcome, ice_servers: welcome.ice_servers ?? state.welcome?.ice_servers };
    showConnectionLost(false);
    renderHomeState();
    return;
  }
  state.welcome = welcome;
  state.registered = welcome.user || null;
  showConnectionLost(false);
  if (state.user && !welcome.user) {
    // The session ended meanwhile (signed out elsewhere, password reset): we are a guest now.
    state.user = null;
    if (state.screen === 'home') showHome();
  }
  if (!welcome.user && state.wantRegistered) send({ type: 'register', name: state.wantRegistered });
  renderHomeState();
  if (!reconnected) {
    if (state.joining) send(joinMessage());
    return;
  }
  // Full rejoin: the server forgot us when the socket closed.
  if (state.outgoing) endOutgoing('Call failed — the connection was lost', 'error');
  if (state.incoming) closeIncoming();
  if (state.mode === 'call') {
    endActiveCall('Call ended — the connection was lost');
  } else if (state.mode === 'room') {
    teardownPeers();
    state.callView?.clearPeers();
    send(joinMessage());
  } else if (state.joining) {
    send(joinMessage());
  }
});

// Said while the connection was down, and the server could not resume the session: the
// rejoin redoes the rest, but chat messages are gone — say so rather than let them look sent.
sig.on('dropped', (msgs) => {
  const chats = msgs.filter((m) => m.type === 'chat').length;
  if (chats) showNotice(chats === 1 ? 'A message sent while offline was lost' : `${chats} messages sent while offline were lost`, 'error');
});

sig.on('disconnected', () => {
  showConnectionLost(true);
  renderHomeState();
});

sig.on('registered', onRegistered);
sig.on('joined', onJoined);
sig.on('room_full', onRoomFull);
sig.on('peer_joined', onPeerJoined);
sig.on('peer_left', onPeerLeft);
sig.on('room_state', onRoomState);
sig.on('removed', onRemoved);
sig.on('left', () => {});
sig.on('signal', onSignal);
sig.on('media', (msg) => {
  state.callView?.setPeerMedia(msg.from, msg);
  // The share ended: drop its tile even if the track removal is still being negotiated.
  if (msg.screen === false) state.callView?.setScreen(msg.from, '', null);
});
sig.on('chat', onServerChat);
sig.on('calling', (msg) => {
  if (state.outgoing) {
    state.outgoing.call = msg.call;
    state.outgoing.user = msg.user || state.outgoing.user;
    renderHomeState();
  }
});
sig.on('busy', (msg) => endOutgoing(`${msg.user || state.outgoing?.user || 'They'} is busy — try again later`));
sig.on('call_declined', () => {
  const user = state.outgoing?.user || 'They';
  endOutgoing(`${user} declined the call`);
});
sig.on('call_missed', (msg) => {
  if (state.outgoing && (!state.outgoing.call || state.outgoing.call === msg.call)) {
    endOutgoing('No answer');
  } else if (state.incoming && state.incoming.call === msg.call) {
    const name = state.incoming.from.name || 'someone';
    closeIncoming();
    showNotice(`Missed call from ${name}`);
  }
});
sig.on('call_cancelled', (msg) => {
  if (state.incoming && state.incoming.call === msg.call) {
    const name = state.incoming.from.name || 'someone';
    closeIncoming();
    showNotice(`Missed call from ${name}`);
  }
});
sig.on('incoming_call', onIncomingCall);
sig.on('call_accepted', onCallAccepted);
sig.on('call_ended', onCallEnded);
sig.on('error', onError);

// ---------------------------------------------------------------- accounts

function showPage(screen, title) {
  if (!state.outgoing && !state.incoming && !state.mode) releaseMedia();
  state.screen = screen;
  state.home = null;
  state.prejoin = null;
  state.callView = null;
  document.title = `${title} — Confer`;
}

/** Submits a form to the API with the form's button disabled; resolves with the answer. */
async function submit(ui, path, body) {
  ui.setBusy(true);
  const r = await api('POST', path, body);
  ui.setBusy(false);
  if (!r.ok) ui.setErrors(r.data);
  return r;
}

function showSignup() {
  showPage('signup', 'Create account');
  const ui = renderSignup(root, {
    onSubmit: async (v) => {
      const r = await submit(ui, '/api/account/signup', {
        username: v.username.trim(), email: v.email.trim(), password: v.password, confirm: v.confirm,
      });
      if (r.ok) reloadAt('/');
    },
  });
}

function showSignin() {
  showPage('signin', 'Sign in');
  const ui = renderSignin(root, {
    onSubmit: async (v) => {
      const r = await submit(ui, '/api/account/signin', { login: v.login.trim(), password: v.password });
      if (r.ok) reloadAt('/');
    },
  });
}

function showForgot() {
  showPage('forgot', 'Forgot password');
  const ui = renderForgot(root, {
    onSubmit: async (v) => {
      const r = await submit(ui, '/api/account/forgot', { email: v.email.trim() });
      if (r.ok) ui.setMessage(r.data.message || 'If an account uses that address, a reset link is on its way.');
    },
  });
}

function showReset() {
  showPage('reset', 'Set a new password');
  const token = new URLSearchParams(location.search).get('token') || '';
  const ui = renderReset(root, {
    onSubmit: async (v) => {
      const r = await submit(ui, '/api/account/reset', { token, password: v.password, confirm: v.confirm });
      if (r.ok) {
        ui.setMessage(r.data.message || 'Your password is changed. Sign in with the new one.');
        ui.done(signInLink());
      }
    },
  });
}

function showAccount() {
  showPage('account', 'Account');
  if (!state.user) {
    renderSignInRequired(root, 'Account');
    return;
  }
  const ui = renderAccount(root, state.user, {
    onChangePassword: async (v) => {
      const r = await submit(ui, '/api/account/password', {
        current: v.current, password: v.password, confirm: v.confirm,
      });
      if (r.ok) {
        ui.form.reset();
        ui.setMessage(r.data.message || 'Your password is changed.');
      } else if (r.status === 401) {
        ui.setErrors({ error: r.data.error || 'Not signed in.' });
      }
    },
    onSignOut: () => signOut(),
  });
}

async function showCalls() {
  showPage('calls', 'Recent calls');
  if (!state.user) {
    renderSignInRequired(root, 'Recent calls');
    return;
  }
  const ui = renderCalls(root, {
    onCall: (name) => {
      // Home, with the name filled in, and place the call as if "Call" was pressed there.
      history.pushState(null, '', '/');
      clearNotice();
      showHome(name);
      callUser(name);
    },
  });
  const r = await api('GET', '/api/calls/recent');
  if (state.screen !== 'calls') return;
  if (r.ok) ui.setCalls(Array.isArray(r.data.calls) ? r.data.calls : []);
  else ui.setError(r.data.error);
}

async function signOut() {
  const r = await api('POST', '/api/account/signout', {});
  if (!r.ok && r.status !== 401) {
    showNotice(r.data.error || 'Could not sign out. Try again.', 'error');
    return;
  }
  reloadAt('/');
}

// ---------------------------------------------------------------- start

state.user = await fetchMe();
route();
sig.connect();
