// Confer web client: the controller. It owns the state, speaks the protocol through
// Signaling and Peer, and hands state to the UI modules to render.
import { Signaling } from './signaling.js';
import { Peer } from './peer.js';
import { getLocalMedia, stopStream } from './media.js';
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
  selfName: null,
  joining: false,
  activeCall: null, // {call, peer}
  local: null, // {stream, message}
  localPromise: null,
  mic: true,
  cam: true,
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
    video: !!stream && stream.getVideoTracks().length > 0 && state.cam,
    screen: false,
  };
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
  incoming.close = showIncoming(from.name || 'Someone', {
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
    onJoin: (name) => joinRoom(name),
  });
  state.prejoin = ui;
  ensureMedia().then((local) => {
    if (state.prejoin === ui) ui.setMedia(local.stream, local.message);
  });
}

async function joinRoom(name) {
  if (!validName(name)) {
    showNotice('Enter your name (1–32 characters) to join', 'error');
    return;
  }
  saveName(name);
  state.selfName = name;
  state.joining = true;
  state.prejoin?.setBusy(true);
  clearNotice();
  await ensureMedia();
  if (!state.joining) return;
  if (!send({ type: 'join', room: state.room, name })) {
    // Not connected yet (or reconnecting): the join goes out with the next `welcome`.
    showNotice('Connecting to the server — you will join as soon as it answers');
  }
}

function onJoined(msg) {
  const rejoin = state.mode === 'room';
  if (state.joining) clearNotice();
  state.joining = false;
  state.mode = 'room';
  state.room = msg.room;
  state.selfName = msg.you?.name || state.selfName;
  if (!rejoin || !state.callView) showCallView(`Room ${msg.room}`);
  const local = state.local || { stream: null, message: null };
  state.callView.setLocal(state.selfName, local.stream, local.message);
  for (const p of msg.peers || []) createPeer(p, local.stream);
  send({ type: 'media', ...mediaState() });
}

function onRoomFull(msg) {
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
  if (state.mode === 'room') send({ type: 'join', room: state.room, name: state.selfName });
}

// ---------------------------------------------------------------- the call view

function showCallView(title) {
  state.screen = 'call';
  state.home = null;
  state.prejoin = null;
  state.callView = new CallView(root, {
    title,
    onLeave: () => leaveCurrent(),
    onToggleMic: (on) => { state.mic = on; applyTrackState(); send({ type: 'media', ...mediaState() }); },
    onToggleCam: (on) => { state.cam = on; applyTrackState(); send({ type: 'media', ...mediaState() }); },
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
    onFailed: () => {
      if (state.mode === 'room') rejoinRoom();
      else showNotice(`The connection to ${info.name} is failing…`, 'error');
    },
  });
  state.peers.set(info.id, peer);
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
      return; // a signal raced with someone leaving
    default:
      console.warn('server error', msg);
      showNotice(msg.message || 'Something went wrong', 'error');
  }
}

// ---------------------------------------------------------------- signaling events

sig.on('connected', ({ welcome, reconnected }) => {
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
    if (state.joining) send({ type: 'join', room: state.room, name: state.selfName });
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
    send({ type: 'join', room: state.room, name: state.selfName });
  } else if (state.joining) {
    send({ type: 'join', room: state.room, name: state.selfName });
  }
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
sig.on('left', () => {});
sig.on('signal', onSignal);
sig.on('media', (msg) => state.callView?.setPeerMedia(msg.from, msg));
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
