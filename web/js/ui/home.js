// Home screen: your account, your name (reachable for calls), rooms, and calling someone by name.
import { h } from './dom.js';

/**
 * @param {HTMLElement} root
 * @param {object} state   {name, user (signed-in {username} or null), callee}
 * @param {object} actions {onRegister(name), onCreateRoom(), onJoinRoom(room), onCall(user), onCancel(),
 *                          onSignOut()}
 * @returns {{update(state: object): void}}
 */
export function renderHome(root, state, actions) {
  const user = state.user || null;
  const account = user
    ? h('section', { className: 'card account-bar', 'aria-label': 'Your account' },
      h('p', { className: 'signed-in', text: `Signed in as ${user.username}` }),
      h('div', { className: 'row' },
        h('a', { href: '/calls', text: 'Recent calls', 'data-route': '' }),
        h('a', { href: '/account', text: 'Account', 'data-route': '' }),
        h('button', { type: 'button', text: 'Sign out', onclick: () => actions.onSignOut() })))
    : h('section', { className: 'card account-bar', 'aria-label': 'Your account' },
      h('div', { className: 'row' },
        h('a', { href: '/signin', text: 'Sign in', 'data-route': '' }),
        h('a', { href: '/signup', text: 'Create account', 'data-route': '' })));

  const nameInput = h('input', {
    id: 'home-name', name: 'name', type: 'text', autocomplete: 'nickname', maxlength: '32',
    value: user ? user.username : state.name || '', required: true,
  });
  // A signed-in person is online under their username: nothing to choose.
  if (user) nameInput.readOnly = true;
  const regStatus = h('p', { className: 'reg-status', role: 'status', 'aria-live': 'polite' });
  const nameForm = h('form', {
    className: 'card',
    onsubmit: (e) => { e.preventDefault(); actions.onRegister(nameInput.value.trim()); },
  },
  h('h2', { text: 'You' }),
  h('div', { className: 'row' },
    h('label', { for: 'home-name', text: 'Your name' }),
    nameInput,
    user ? null : h('button', { type: 'submit', text: 'Go online' })),
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
    value: state.callee || '',
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

  root.replaceChildren(h('div', { className: 'home' }, account, nameForm, roomForm, callForm));

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
