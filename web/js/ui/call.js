// The call view: a grid of <figure> tiles (self first), and the call controls.
import { h, playStream } from './dom.js';
import { deviceControls } from './devices.js';

export class CallView {
  /**
   * @param {HTMLElement} root
   * @param {object} opts {title, onLeave(), onToggleMic(on), onToggleCam(on), onSendChat(text),
   *                       onToggleScreen(on), onNeedsGesture(), onLock(locked), onRemove(peerId)}
   */
  constructor(root, { title, onLeave, onToggleMic, onToggleCam, onToggleScreen, onSendChat, onNeedsGesture,
    roomLink, onCopied, deviceActions, onLock, onRemove }) {
    this.tiles = new Map();
    // Rooms: whether we are the host (who may lock the room and remove people) and the lock.
    this.isHost = false;
    this.locked = false;
    this.onRemove = onRemove || (() => {});
    this.lockButton = h('button', {
      type: 'button', text: 'Lock room', hidden: true, 'aria-pressed': 'false',
      onclick: () => onLock && onLock(!this.locked),
    });
    this.lockStatus = h('p', { className: 'room-lock', role: 'status', 'aria-live': 'polite' });
    this.onNeedsGesture = onNeedsGesture || (() => {});
    this.grid = h('div', { className: 'grid' });
    this.mediaMsg = h('p', { className: 'media-message', role: 'status', 'aria-live': 'polite' });
    this.micOn = true;
    this.camOn = true;
    this.micButton = h('button', {
      type: 'button', text: 'Mute microphone',
      onclick: () => { this.micOn = !this.micOn; this.renderButtons(); onToggleMic(this.micOn); },
    });
    this.camButton = h('button', {
      type: 'button', text: 'Turn camera off',
      onclick: () => { this.camOn = !this.camOn; this.renderButtons(); onToggleCam(this.camOn); },
    });
    this.screenOn = false;
    this.screenButton = h('button', {
      type: 'button', text: 'Share screen',
      hidden: !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia),
      onclick: () => { this.setScreenOn(!this.screenOn); onToggleScreen(this.screenOn); },
    });
    this.leaveButton = h('button', { type: 'button', className: 'danger', text: 'Leave call', onclick: () => onLeave() });

    // Chat: the button keeps the accessible name "Chat"; the unread count is a visible badge
    // hidden from screen readers (they hear new messages through the log instead).
    this.unread = 0;
    this.unreadBadge = h('span', { className: 'count', 'aria-hidden': 'true', hidden: true });
    this.chatButton = h('button', {
      type: 'button', 'aria-expanded': 'false', 'aria-controls': 'chat-panel',
      onclick: () => this.toggleChat(),
    }, 'Chat', this.unreadBadge);
    this.chatLog = h('ol', { className: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
    this.chatInput = h('input', {
      id: 'chat-message', type: 'text', maxlength: '2000', autocomplete: 'off', 'aria-label': 'Message',
      placeholder: 'Message',
    });
    const chatForm = h('form', {
      className: 'chat-form',
      onsubmit: (e) => {
        e.preventDefault();
        const text = this.chatInput.value.trim();
        if (!text) return;
        if (onSendChat(text) !== false) this.chatInput.value = '';
      },
    }, this.chatInput, h('button', { type: 'submit', text: 'Send' }));
    this.chatPanel = h('aside', { id: 'chat-panel', className: 'chat', 'aria-label': 'Chat', hidden: true },
      this.chatLog, chatForm);

    this.devices = deviceControls(deviceActions);
    this.sinkId = null;
    this.copyButton = roomLink ? h('button', {
      type: 'button', text: 'Copy link',
      onclick: () => {
        const done = (ok) => onCopied && onCopied(ok, roomLink);
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(roomLink).then(() => done(true), () => done(false));
        else done(false);
      },
    }) : null;

    root.replaceChildren(h('div', { className: 'call' },
      h('div', { className: 'call-head' }, h('h2', { className: 'call-title', text: title }), this.copyButton),
      this.lockStatus,
      this.mediaMsg,
      h('div', { className: 'stage' }, this.grid, this.chatPanel),
      h('div', { className: 'controls' }, this.micButton, this.camButton, this.devices.switchButton, this.screenButton, this.chatButton, this.lockButton, this.leaveButton),
      this.devices.element,
      h('p', { className: 'help', text: 'Shortcuts: M mutes or unmutes the microphone, V turns the camera off or on.' })));
  }

  /**
   * The room's host and lock, from `joined` and `room_state`: the host sees "Lock room" and a
   * "Remove" button on every other person's tile; everyone sees whether the room is locked.
   */
  setRoomControl({ isHost, locked }) {
    this.isHost = !!isHost;
    this.locked = !!locked;
    this.lockButton.hidden = !this.isHost;
    this.lockButton.textContent = this.locked ? 'Unlock room' : 'Lock room';
    this.lockButton.setAttribute('aria-pressed', String(this.locked));
    let text = '';
    if (this.locked) text = this.isHost ? 'Room locked — nobody new can join until you unlock it' : 'Room locked by the host — nobody new can join';
    else if (this.isHost) text = 'You are the host of this room';
    this.lockStatus.textContent = text;
    this.lockStatus.dataset.locked = String(this.locked);
    for (const tile of this.tiles.values()) if (tile.remove) tile.remove.hidden = !this.isHost;
  }

  /** A keyboard shortcut: the same as clicking the (visible) button. */
  shortcut(which) {
    const button = which === 'mic' ? this.micButton : this.camButton;
    if (!button.hidden) button.click();
  }

  toggleChat(open = this.chatPanel.hidden) {
    this.chatPanel.hidden = !open;
    this.chatButton.setAttribute('aria-expanded', String(open));
    if (open) {
      this.unread = 0;
      this.renderUnread();
      this.chatInput.focus();
      this.chatLog.lastElementChild?.scrollIntoView({ block: 'end' });
    }
  }

  renderUnread() {
    this.unreadBadge.hidden = this.unread === 0;
    this.unreadBadge.textContent = this.unread > 99 ? '99+' : String(this.unread);
    this.chatButton.title = this.unread ? `${this.unread} unread` : '';
  }

  /**
   * One chat message. `via` ('p2p' | 'server' | 'local') is kept as data-via for diagnosis.
   * Text goes in with textContent: links and markup stay plain text.
   */
  addChat({ name, text, at, self = false, via }) {
    const when = new Date(Number.isFinite(at) ? at : Date.now());
    const time = h('time', {
      dateTime: when.toISOString(),
      text: when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
    });
    const item = h('li', { className: self ? 'chat-msg self' : 'chat-msg' },
      h('div', { className: 'chat-meta' }, h('span', { className: 'chat-name', text: self ? `${name} (you)` : name }), ' ', time),
      h('p', { className: 'chat-text', text }));
    if (via) item.dataset.via = via;
    this.chatLog.append(item);
    while (this.chatLog.childElementCount > 500) this.chatLog.firstElementChild.remove();
    if (this.chatPanel.hidden) {
      if (!self) {
        this.unread += 1;
        this.renderUnread();
      }
    } else {
      item.scrollIntoView({ block: 'end' });
    }
  }

  setScreenOn(on) {
    this.screenOn = on;
    this.screenButton.textContent = on ? 'Stop sharing' : 'Share screen';
  }

  /**
   * A screen share as its own tile beside the person's camera tile: `owner` is a peer id or
   * 'self'; `stream` null removes it. Screen tiles carry data-screen (not data-peer).
   */
  setScreen(owner, name, stream) {
    const key = `screen:${owner}`;
    let tile = this.tiles.get(key);
    if (!stream) {
      if (tile) {
        tile.video.srcObject = null;
        tile.figure.remove();
        this.tiles.delete(key);
        this.grid.dataset.count = String(this.tiles.size);
      }
      return;
    }
    if (!tile) {
      const self = owner === 'self';
      const video = h('video', { autoplay: true, playsInline: true, muted: self });
      video.setAttribute('playsinline', '');
      const cap = h('figcaption');
      const figure = h('figure', { className: 'tile screen' }, video, this.tileTools(video, () => cap.textContent), cap);
      figure.dataset.screen = owner;
      tile = { figure, video, cap, screen: true };
      this.tiles.set(key, tile);
      const next = owner === 'self' ? this.tiles.get('self')?.figure : this.tiles.get(owner)?.figure;
      if (next) next.after(figure);
      else this.grid.append(figure);
      this.grid.dataset.count = String(this.tiles.size);
    }
    tile.cap.textContent = owner === 'self' ? 'Your screen' : `${name}'s screen`;
    // A shared screen may carry sound (a tab's audio): through the chosen speaker too.
    if (owner !== 'self' && this.sinkId && tile.video.sinkId !== this.sinkId) tile.video.setSinkId?.(this.sinkId).catch(() => {});
    playStream(tile.video, stream, owner === 'self' ? undefined : () => this.onNeedsGesture());
  }

  /** Per-tile "Full screen" and "Picture in picture" buttons (where the browser has them). */
  tileTools(video, name) {
    const full = h('button', {
      type: 'button', className: 'tool', text: 'Full', title: 'Full screen',
      hidden: !document.fullscreenEnabled,
      onclick: () => {
        const figure = video.closest('figure');
        if (document.fullscreenElement === figure) document.exitFullscreen().catch(() => {});
        else figure.requestFullscreen().catch(() => {});
      },
    });
    const pip = h('button', {
      type: 'button', className: 'tool', text: 'PiP', title: 'Picture in picture',
      hidden: !document.pictureInPictureEnabled,
      onclick: () => {
        if (document.pictureInPictureElement === video) document.exitPictureInPicture().catch(() => {});
        else video.requestPictureInPicture().catch(() => {});
      },
    });
    // The names say whose video it is (there is one pair of buttons per tile).
    full.addEventListener('focus', () => full.setAttribute('aria-label', `Full screen: ${name()}`));
    pip.addEventListener('focus', () => pip.setAttribute('aria-label', `Picture in picture: ${name()}`));
    full.setAttribute('aria-label', 'Full screen');
    pip.setAttribute('aria-label', 'Picture in picture');
    return h('div', { className: 'tools' }, full, pip);
  }

  /** Connection quality of one peer: the indicator and its details panel. */
  setPeerStats(id, level, s) {
    const tile = this.tiles.get(id);
    if (!tile || !tile.quality) return;
    const words = { good: 'good', fair: 'fair', poor: 'poor', unknown: 'measuring' };
    tile.quality.dataset.quality = level;
    tile.quality.textContent = level === 'unknown' ? '…' : '▮▮▮'.slice(0, level === 'good' ? 3 : level === 'fair' ? 2 : 1);
    tile.quality.setAttribute('aria-label', `Connection to ${tile.cap.textContent}: ${words[level]}`);
    const fmt = (v, unit, digits = 0) => (v === null || v === undefined ? '–' : `${v.toFixed(digits)} ${unit}`);
    const rows = [
      ['Round trip', fmt(s.rtt, 'ms')],
      ['Packet loss', fmt(s.loss, '%', 1)],
      ['Receiving', fmt(s.kbpsIn, 'kbit/s')],
      ['Sending', fmt(s.kbpsOut, 'kbit/s')],
    ];
    tile.details.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
  }

  /** Highlights the person speaking: a peer id, 'self' for our own tile, or null for nobody. */
  setActiveSpeaker(id) {
    for (const [key, tile] of this.tiles) tile.figure.classList.toggle('speaking', key === id);
  }

  /** The camera button after an attempt to turn it on failed. */
  setCamOn(on) {
    this.camOn = on;
    this.renderButtons();
  }

  /** Shows (or blanks) the self view after the camera was turned on or off. */
  setSelfVideo(stream) {
    const self = this.tiles.get('self');
    if (!self) return;
    if (stream && stream.getVideoTracks().length) {
      self.video.srcObject = null;
      playStream(self.video, stream);
    }
  }

  renderButtons() {
    this.micButton.textContent = this.micOn ? 'Mute microphone' : 'Unmute microphone';
    this.camButton.textContent = this.camOn ? 'Turn camera off' : 'Turn camera on';
    const self = this.tiles.get('self');
    if (self) this.setBadges(self, { audio: this.micOn, video: this.camOn });
  }

  setLocal(name, stream, message) {
    const hasAudio = !!stream && stream.getAudioTracks().length > 0;
    const hasVideo = !!stream && stream.getVideoTracks().length > 0;
    this.micButton.hidden = !hasAudio;
    this.camButton.hidden = !hasVideo;
    this.mediaMsg.textContent = message || '';
    const tile = this.ensureTile('self', `${name} (you)`, true);
    if (stream && hasVideo) playStream(tile.video, stream);
    this.renderButtons();
  }

  ensureTile(id, caption, self = false) {
    let tile = this.tiles.get(id);
    if (!tile) {
      const video = h('video', { autoplay: true, playsInline: true, muted: self });
      video.setAttribute('playsinline', '');
      if (self) video.setAttribute('muted', '');
      const badge = h('span', { className: 'badge', text: 'muted', hidden: true });
      const camBadge = h('span', { className: 'badge', text: 'camera off', hidden: true });
      const cap = h('figcaption', { text: caption });
      const tools = this.tileTools(video, () => cap.textContent);
      let quality = null;
      let details = null;
      let remove = null;
      if (!self) {
        remove = h('button', {
          type: 'button', className: 'tool remove', text: 'Remove', hidden: !this.isHost,
          'aria-label': `Remove ${caption} from the room`,
          onclick: () => this.onRemove(id),
        });
        details = h('dl', { className: 'details', hidden: true });
        quality = h('button', {
          type: 'button', className: 'quality', 'aria-expanded': 'false',
          onclick: () => {
            details.hidden = !details.hidden;
            quality.setAttribute('aria-expanded', String(!details.hidden));
          },
        });
        quality.dataset.quality = 'unknown';
        quality.setAttribute('aria-label', `Connection to ${caption}: measuring`);
      }
      const figure = h('figure', { className: self ? 'tile self' : 'tile' }, video,
        h('div', { className: 'badges' }, badge, camBadge), tools, remove, quality, details, cap);
      if (!self) figure.dataset.peer = id;
      if (!self && this.sinkId) video.setSinkId?.(this.sinkId).catch(() => {});
      tile = { figure, video, cap, badge, camBadge, quality, details, remove };
      this.tiles.set(id, tile);
      if (self) this.grid.prepend(figure);
      else this.grid.append(figure);
      this.grid.dataset.count = String(this.tiles.size);
    } else {
      tile.cap.textContent = caption;
      tile.remove?.setAttribute('aria-label', `Remove ${caption} from the room`);
    }
    return tile;
  }

  addPeer(id, name, media) {
    const tile = this.ensureTile(id, name);
    if (media) this.setBadges(tile, media);
  }

  setPeerStream(id, stream) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (this.sinkId) tile.video.setSinkId?.(this.sinkId).catch(() => {});
    playStream(tile.video, stream, () => this.onNeedsGesture());
  }

  /** Plays every other person (camera and screen tiles, and those who come later) through the chosen speaker. */
  setSinkId(id) {
    this.sinkId = id;
    for (const [key, tile] of this.tiles) {
      if (key !== 'self' && key !== 'screen:self' && tile.video.setSinkId) tile.video.setSinkId(id).catch((e) => console.warn('speaker', e));
    }
  }

  /** The peer connection's state, on the figure as data-state (styles can show "connecting"). */
  setPeerState(id, connectionState) {
    const tile = this.tiles.get(id);
    if (tile) tile.figure.dataset.state = connectionState;
  }

  setPeerMedia(id, media) {
    const tile = this.tiles.get(id);
    if (tile) this.setBadges(tile, media);
  }

  setBadges(tile, media) {
    tile.badge.hidden = media.audio !== false;
    tile.camBadge.hidden = media.video !== false;
    tile.figure.classList.toggle('cam-off', media.video === false);
  }

  removePeer(id) {
    this.setScreen(id, '', null);
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.figure.remove();
    this.tiles.delete(id);
    this.grid.dataset.count = String(this.tiles.size);
  }

  clearPeers() {
    for (const id of [...this.tiles.keys()]) if (id !== 'self' && !id.startsWith('screen:')) this.removePeer(id);
  }

  /** Unmute remote videos after a user gesture (autoplay with sound was refused). */
  unmuteRemotes() {
    for (const [id, tile] of this.tiles) {
      if (id !== 'self' && tile.video.muted) {
        tile.video.muted = false;
        tile.video.play().catch(() => {});
      }
    }
  }
}
