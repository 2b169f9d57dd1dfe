// Home screen: your name (reachable for calls), rooms, and calling someone by name.
import { h } from './dom.js';

/**
 * @param {HTMLElement} root
 * @param {object} state   {name}
 * @param {object} actions {onRegister(name), onCreateRoom(), onJoinRoom(room), onCall(user), onCancel()}
 * @returns {{update(state: object): void}}
 */
export function renderHome(root, state, actions) {
  const nameInput = h('input', {
    id: 'home-name', name: 'name', type: 'text', autocomplete: 'nickname', maxlength: '32',
    value: state.name || '', required: true,
  });
  const regStatus = h('p', { className: 'reg-status', role: 'status', 'aria-live': 'polite' });
  const nameForm = h('form', {
    className: 'card',
    onsubmit: (e) => { e.preventDefault(); actions.onRegister(nameInput.value.trim()); },
  },
  h('h2', { text: 'You' }),
  h('div', { className: 'row' },
    h('label', { for: 'home-name', text: 'Your name' }),
    nameInput,
    h('button', { type: 'submit', text: 'Go online' })),
  regStatus);

  const roomInput = h('input', {
    id: 'home-room', name: 'room', type: 'text', autocomplete: 'off', maxlength: '64',
    pattern: '[A-Za-z0-9._\\-]+', placeholder: 'e.g. blue-fox-42',
  });
  const roomForm = h('form', {
    className: 'card',
    onsubmit: (e) => { e.preventDefault(); actions.onJoinRoom(roomInput.value.trim()); },
  },
  h('h2', { text: 'Meet in a room' }),
  h('div', { className: 'row' },
    h('label', { for: 'home-room', text: 'Room name' }),
    roomInput,
    h('button', { type: 'submit', text: 'Join room' })),
  h('div', { className: 'row' },
    h('button', { type: 'button', text: 'Create room', onclick: () => actions.onCreateRoom() })));

  const calleeInput = h('input', {
    id: 'home-callee', name: 'user', type: 'text', autocomplete: 'off', maxlength: '32',
  });
  const callButton = h('button', { type: 'submit', text: 'Call' });
  const outgoingText = h('p', { className: 'outgoing-text' });
  const cancelButton = h('button', { type: 'button', className: 'danger', text: 'Cancel', onclick: () => actions.onCancel() });
  const outgoing = h('div', { className: 'outgoing', role: 'status', 'aria-live': 'polite' }, outgoingText, cancelButton);
  const callForm = h('form', {
    className: 'card',
    onsubmit: (e) => {
      e.preventDefault();
      actions.onCall(calleeInput.value.trim(), nameInput.value.trim());
    },
  },
  h('h2', { text: 'Call someone' }),
  h('div', { className: 'row' },
    h('label', { for: 'home-callee', text: 'Username to call' }),
    calleeInput,
    callButton),
  outgoing);

  root.replaceChildren(h('div', { className: 'home' }, nameForm, roomForm, callForm));

  function update(s) {
    if (s.registered) regStatus.textContent = `You can be called as ${s.registered}`;
    else if (s.regError) regStatus.textContent = s.regError;
    else regStatus.textContent = s.online ? '' : 'Not reachable for calls yet';
    regStatus.dataset.kind = s.regError ? 'error' : 'info';
    const ringing = s.outgoing;
    outgoing.hidden = !ringing;
    outgoingText.textContent = ringing ? `Calling ${ringing.user}…` : '';
    callButton.disabled = !!ringing;
  }
  update(state);
  return { update };
}
