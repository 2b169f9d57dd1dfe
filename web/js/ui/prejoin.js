// Pre-join screen of a room: camera preview, your name, an optional room password, "Join".
import { h, playStream } from './dom.js';
import { deviceControls } from './devices.js';

/**
 * @param {HTMLElement} root
 * @param {object} state   {room, name}
 * @param {object} actions {onJoin(name, password), onJoinWithScreen(name, password), deviceActions}
 * @returns {{setMedia(stream, message): void, setBusy(busy: boolean): void,
 *            askPassword(message): void, devices}}
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
  // The first person in sets it; everyone after must give it (the server checks).
  const passwordHelp = h('p', {
    id: 'prejoin-password-help', className: 'help',
    text: 'Starting the room? Set a password to keep others out. Joining? Enter the one you were given.',
  });
  const passwordError = h('p', { id: 'prejoin-password-error', className: 'field-error', hidden: true });
  const passwordInput = h('input', {
    id: 'prejoin-password', name: 'room-password', type: 'password', autocomplete: 'off', maxlength: '128',
    'aria-describedby': 'prejoin-password-help prejoin-password-error',
    oninput: () => { passwordError.hidden = true; passwordInput.removeAttribute('aria-invalid'); },
  });
  const password = () => passwordInput.value;
  const devices = deviceControls(actions.deviceActions);
  // Seed 004's fallback: no camera at all, so offer to show a screen instead.
  const screenJoin = h('button', {
    type: 'button', text: 'Join with screen share', hidden: true,
    onclick: () => actions.onJoinWithScreen(nameInput.value.trim(), password()),
  });
  const joinButton = h('button', { type: 'submit', className: 'primary', text: 'Join' });
  const form = h('form', {
    className: 'card',
    onsubmit: (e) => { e.preventDefault(); actions.onJoin(nameInput.value.trim(), password()); },
  },
  h('div', { className: 'row' },
    h('label', { for: 'prejoin-name', text: 'Your name' }),
    nameInput,
    joinButton,
    screenJoin),
  h('div', { className: 'row' },
    h('label', { for: 'prejoin-password', text: 'Room password (optional)' }),
    passwordInput,
    passwordError),
  passwordHelp);

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
    /** The room has a password and ours was missing or wrong: say so at the field. */
    askPassword(message) {
      passwordError.textContent = message;
      passwordError.hidden = false;
      passwordInput.setAttribute('aria-invalid', 'true');
      passwordInput.select();
      passwordInput.focus();
    },
    setBusy(busy) {
      joinButton.disabled = busy;
      screenJoin.disabled = busy;
    },
  };
}
