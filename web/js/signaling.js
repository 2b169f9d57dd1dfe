// Signaling transport: owns the WebSocket to /ws and nothing else.
//
// The rest of the client only sees an event emitter:
//   on('connected', ({welcome, reconnected}) => …)   after every `welcome`
//   on('disconnected', () => …)                       the socket closed; a retry is scheduled
//   on(<server message type>, msg => …)               every message the server sends
// and `send(msg)`, which returns false when there is no open socket.
//
// The transport is kept behind this small surface so that another one (HTTP/SSE fallback) can
// replace the WebSocket later without touching the protocol or UI code.

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 10_000;

export function defaultSignalingUrl(loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

export class Signaling {
  constructor(url = defaultSignalingUrl()) {
    this.url = url;
    this.ws = null;
    this.listeners = new Map();
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = false;
    this.everConnected = false;
    this.connected = false;
    this.id = null;
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

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      console.error('WebSocket failed to start', e);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (ws !== this.ws || typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        console.warn('ignoring a non-JSON frame');
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'welcome') {
        const reconnected = this.everConnected;
        this.everConnected = true;
        this.connected = true;
        this.attempt = 0;
        this.id = msg.id;
        this.emit('welcome', msg);
        this.emit('connected', { welcome: msg, reconnected });
        return;
      }
      this.emit(msg.type, msg);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      const wasConnected = this.connected;
      this.connected = false;
      if (wasConnected || this.attempt === 0) this.emit('disconnected', {});
      if (!this.stopped) this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and handles the retry.
    };
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

  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.connected = false;
    if (ws) ws.close(1000);
  }
}
