// The call view: a grid of <figure> tiles (self first), and the call controls.
import { h, playStream } from './dom.js';

export class CallView {
  /**
   * @param {HTMLElement} root
   * @param {object} opts {title, onLeave(), onToggleMic(on), onToggleCam(on), onNeedsGesture()}
   */
  constructor(root, { title, onLeave, onToggleMic, onToggleCam, onNeedsGesture }) {
    this.tiles = new Map();
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
    this.leaveButton = h('button', { type: 'button', className: 'danger', text: 'Leave call', onclick: () => onLeave() });
    root.replaceChildren(h('div', { className: 'call' },
      h('h2', { className: 'call-title', text: title }),
      this.mediaMsg,
      this.grid,
      h('div', { className: 'controls' }, this.micButton, this.camButton, this.leaveButton)));
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
      const figure = h('figure', { className: self ? 'tile self' : 'tile' }, video, h('div', { className: 'badges' }, badge, camBadge), cap);
      if (!self) figure.dataset.peer = id;
      tile = { figure, video, cap, badge, camBadge };
      this.tiles.set(id, tile);
      if (self) this.grid.prepend(figure);
      else this.grid.append(figure);
      this.grid.dataset.count = String(this.tiles.size);
    } else {
      tile.cap.textContent = caption;
    }
    return tile;
  }

  addPeer(id, name, media) {
    const tile = this.ensureTile(id, name);
    if (media) this.setBadges(tile, media);
  }

  setPeerStream(id, stream) {
    const tile = this.tiles.get(id);
    if (tile) playStream(tile.video, stream, () => this.onNeedsGesture());
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
  }

  removePeer(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.figure.remove();
    this.tiles.delete(id);
    this.grid.dataset.count = String(this.tiles.size);
  }

  clearPeers() {
    for (const id of [...this.tiles.keys()]) if (id !== 'self') this.removePeer(id);
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
