// Signaling transport: owns the connection to the server and nothing else.
//
// The rest of the client only sees an event emitter:
//   on('connected', ({welcome, reconnected, resumed}) => …)   after every `welcome`
//   on('disconnected', () => …)                       the connection closed; a retry is scheduled
//   on('dropped', msgs => …)                          kept messages a new session cannot take
//   on(<server message type>, msg => …)               every message the server sends
// and `send(msg)`, which returns false when the message is neither sent nor kept for later.
//
// Two transports carry the same protocol (docs/protocol.md): a WebSocket on /ws, and, where
// a proxy blocks WebSockets, server-sent events from /signal/events with POSTs to
// /signal/send. After WS_FAILURES_BEFORE_FALLBACK WebSocket attempts in a row that never
// delivered `welcome`, the client switches to the HTTP transport for the rest of the page.
// The transport in use is shown as `data-signaling` on <html> for diagnosis.
//
// Session resume: `welcome.resume` is a secret token (null when the server does not offer
// resumption). After a drop the client reconnects with the token of the LAST welcome
// (`/ws?resume=…`, or `/signal/events?resume=…`); a `welcome` with `resumed: true` and the same
// `id` means the server kept the session, rooms and calls: nothing needs to be redone.
//
// Sending while disconnected: once a session that the server may resume exists, `send` keeps
// what it cannot send now (at most MAX_QUEUED messages, never `ping`) and returns true. After
// a `welcome` with `resumed: true` the kept messages go out first, in order, before anything
// else; after a new session (`resumed: false`) they are dropped — the owner rejoins anyway —
// and `on('dropped', msgs => …)` reports them. A message handed to a socket that is already
// dead without knowing it (half-open) is lost; the queue cannot know about it.

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const WELCOME_TIMEOUT_MS = 5_000;
const WS_FAILURES_BEFORE_FALLBACK = 2;
const MAX_QUEUED = 500;

export function defaultSignalingUrl(loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

/** A WebSocket transport: `send(text)`, `close()`; reports frames and the end. */
function openWebSocket(url, { onFrame, onClose }) {
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (e) {
    console.error('WebSocket failed to start', e);
    setTimeout(onClose, 0);
    return { kind: 'websocket', send: () => false, close() {} };
  }
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') onFrame(ev.data);
  };
  ws.onclose = () => onClose();
  ws.onerror = () => {}; // onclose follows
  return {
    kind: 'websocket',
    send(text) {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(text);
      return true;
    },
    close() {
      ws.onclose = null;
      ws.close(1000);
    },
  };
}

/** The HTTP fallback: an EventSource down, one POST at a time up (to keep frames in order). */
function openEventStream(origin, resume, { onFrame, onClose }) {
  const query = resume ? `?resume=${encodeURIComponent(resume)}` : '';
  const es = new EventSource(`${origin}/signal/events${query}`, { withCredentials: true });
  let token = null;
  let closed = false;
  let chain = Promise.resolve();
  const end = () => {
    if (closed) return;
    closed = true;
    es.close();
    onClose();
  };
  es.addEventListener('session', (ev) => {
    token = ev.data;
  });
  es.onmessage = (ev) => onFrame(ev.data);
  // EventSource would reconnect by itself into a new, empty session; let the owner decide.
  es.onerror = end;
  return {
    kind: 'http',
    send(text) {
      if (closed || !token) return false;
      const url = `${origin}/signal/send?token=${encodeURIComponent(token)}`;
      chain = chain
        .then(() => fetch(url, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json' },
          body: text,
        }))
        .then((res) => {
          if (res.status === 404) end(); // the session is gone: start a new one
          else if (!res.ok) console.warn(`signaling POST refused: ${res.status}`);
        })
        .catch(() => end());
      return true;
    },
    close() {
      closed = true;
      es.close();
    },
  };
}

/** Whether the server answers plain HTTP (within 3 s). */
async function serverAnswers(origin) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 3_000);
  try {
    const res = await fetch(`${origin}/healthz`, { cache: 'no-store', signal: abort.signal });
    return res.ok;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export class Signaling {
  constructor(url = defaultSignalingUrl()) {
    this.url = url;
    this.origin = window.location.origin;
    this.transport = null;
    this.listeners = new Map();
    this.attempt = 0;
    this.retryTimer = null;
    this.welcomeTimer = null;
    this.stopped = false;
    this.everConnected = false;
    this.connected = false;
    this.wsFailures = 0;
    this.id = null;
    this.resumeToken = null;
    this.queue = [];
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }

  /** Resolves with the first message of one of `types` (or rejects after `timeoutMs`). */
  waitFor(types, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const offs = [];
      const done = () => { clearTimeout(timer); offs.forEach((off) => off()); };
      const timer = setTimeout(() => { done(); reject(new Error('timeout')); }, timeoutMs);
      for (const t of types) offs.push(this.on(t, (msg) => { done(); resolve(msg); }));
    });
  }

  emit(type, payload) {
    for (const fn of [...(this.listeners.get(type) || [])]) {
      try {
        fn(payload);
      } catch (e) {
        console.error(`signaling listener for ${type} failed`, e);
      }
    }
  }

  /** Which transport the next connection uses. */
  useHttp() {
    return this.wsFailures >= WS_FAILURES_BEFORE_FALLBACK;
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    let transport = null;
    const handlers = {
      onFrame: (text) => {
        if (transport === this.transport) this.handleFrame(transport, text);
      },
      onClose: () => {
        if (transport === this.transport) this.handleClose(transport);
      },
    };
    const resume = this.everConnected ? this.resumeToken : null;
    transport = this.useHttp()
      ? openEventStream(this.origin, resume, handlers)
      : openWebSocket(resume ? `${this.url}?resume=${encodeURIComponent(resume)}` : this.url, handlers);
    this.transport = transport;
    // A proxy may accept the connection and then pass nothing through.
    clearTimeout(this.welcomeTimer);
    this.welcomeTimer = setTimeout(() => {
      if (transport === this.transport && !this.connected) {
        transport.close();
        this.handleClose(transport);
      }
    }, WELCOME_TIMEOUT_MS);
  }

  handleFrame(transport, text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn('ignoring a non-JSON frame');
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (msg.type === 'welcome') {
      clearTimeout(this.welcomeTimer);
      const reconnected = this.everConnected;
      this.everConnected = true;
      this.connected = true;
      this.attempt = 0;
      if (transport.kind === 'websocket') this.wsFailures = 0;
      document.documentElement.dataset.signaling = transport.kind;
      const resumed = reconnected && msg.resumed === true && this.id !== null && msg.id === this.id;
      this.id = msg.id;
      this.resumeToken = typeof msg.resume === 'string' && msg.resume ? msg.resume : null;
      const queued = this.queue;
      this.queue = [];
      if (resumed) {
        // The same session: what was said meanwhile goes out now, before anything newer.
        for (let i = 0; i < queued.length; i += 1) {
          if (!transport.send(JSON.stringify(queued[i]))) {
            this.queue = queued.slice(i);
            break;
          }
        }
      } else if (queued.length) {
        this.emit('dropped', queued);
      }
      this.emit('welcome', msg);
      this.emit('connected', { welcome: msg, reconnected, resumed });
      return;
    }
    this.emit(msg.type, msg);
  }

  handleClose(transport) {
    this.transport = null;
    clearTimeout(this.welcomeTimer);
    const wasConnected = this.connected;
    this.connected = false;
    if (wasConnected || this.attempt === 0) this.emit('disconnected', {});
    if (transport.kind !== 'websocket' || wasConnected) {
      this.retry(false);
      return;
    }
    // A WebSocket that never worked: blocked on the way, or is the server down? Only the
    // first counts towards the fallback; a restarting server must not push us onto it.
    serverAnswers(this.origin).then((up) => {
      if (up) this.wsFailures += 1;
      const switching = up && this.wsFailures === WS_FAILURES_BEFORE_FALLBACK;
      if (switching) console.info('WebSockets seem blocked; using the HTTP fallback');
      this.retry(switching);
    });
  }

  /** Connect again: at once when switching transports, else after a back-off. */
  retry(now) {
    if (this.stopped) return;
    if (now) this.connect();
    else this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt);
    // "Equal jitter": somewhere between half the delay and the full delay.
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  /**
   * Sends `msg` now, or keeps it for a resumed session (see the top of this file). False when
   * it is neither sent nor kept.
   */
  send(msg) {
    if (this.transport && this.connected && this.queue.length === 0
      && this.transport.send(JSON.stringify(msg))) return true;
    return this.enqueue(msg);
  }

  enqueue(msg) {
    // Only a session the server may resume can still take the message later.
    if (this.stopped || !this.everConnected || !this.resumeToken) return false;
    if (msg.type === 'ping' || this.queue.length >= MAX_QUEUED) return false;
    this.queue.push(msg);
    return true;
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.welcomeTimer);
    this.retryTimer = null;
    const transport = this.transport;
    this.transport = null;
    this.connected = false;
    this.queue = [];
    if (transport) transport.close();
  }
}
