// Pre-join screen of a room: camera preview, your name, "Join".
import { h, playStream } from './dom.js';
import { deviceControls } from './devices.js';

/**
 * @param {HTMLElement} root
 * @param {object} state   {room, name}
 * @param {object} actions {onJoin(name), deviceActions}
 * @returns {{setMedia(stream, message): void, setBusy(busy: boolean): void, devices}}
 */
export function renderPrejoin(root, state, actions) {
  const preview = h('video', {
    className: 'preview', autoplay: true, playsInline: true, muted: true,
    'aria-label': 'Camera preview',
  });
  preview.setAttribute('playsinline', '');
  preview.setAttribute('muted', '');
  const mediaMsg = h('p', { className: 'media-message', role: 'status', 'aria-live': 'polite' });
  const nameInput = h('input', {
    id: 'prejoin-name', name: 'name', type: 'text', autocomplete: 'nickname', maxlength: '32',
    value: state.name || '', required: true,
  });
  const devices = deviceControls(actions.deviceActions);
  // Seed 004's fallback: no camera at all, so offer to show a screen instead.
  const screenJoin = h('button', {
    type: 'button', text: 'Join with screen share', hidden: true,
    onclick: () => actions.onJoinWithScreen(nameInput.value.trim()),
  });
  const joinButton = h('button', { type: 'submit', className: 'primary', text: 'Join' });
  const form = h('form', {
    className: 'card',
    onsubmit: (e) => { e.preventDefault(); actions.onJoin(nameInput.value.trim()); },
  },
  h('div', { className: 'row' },
    h('label', { for: 'prejoin-name', text: 'Your name' }),
    nameInput,
    joinButton,
    screenJoin));

  root.replaceChildren(h('div', { className: 'prejoin' },
    h('h2', {}, 'Room ', h('span', { className: 'room-name', text: state.room })),
    h('figure', { className: 'tile self' }, preview, h('figcaption', { text: 'Camera preview' })),
    mediaMsg,
    h('div', { className: 'row' }, devices.switchButton),
    devices.element,
    form));

  return {
    devices,
    setMedia(stream, message) {
      if (stream && stream.getVideoTracks().length) {
        preview.srcObject = null;
        playStream(preview, stream);
      } else {
        preview.srcObject = null;
      }
      mediaMsg.textContent = message || '';
      const canShare = !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
      screenJoin.hidden = !canShare || !!(stream && stream.getVideoTracks().length);
    },
    setBusy(busy) {
      joinButton.disabled = busy;
      screenJoin.disabled = busy;
    },
  };
}
