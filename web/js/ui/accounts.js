// Account pages: sign up, sign in, forgot password, reset password, account (change password).
// They only render; the controller (app.js) talks to the server and calls back setErrors() etc.
import { h } from './dom.js';

/**
 * A form of labelled fields, each with its own error line, a general error (role="alert") and a
 * status line for success messages.
 * @param {object} spec {id, title, intro?, fields: [{name, label, type, autocomplete}], submit,
 *                       before?: Node[], after?: Node[], onSubmit(values)}
 * @returns {{form, setErrors(data), setMessage(text), setBusy(busy), clear(), done(nodes)}}
 */
function renderForm(root, spec) {
  const inputs = new Map();
  const errors = new Map();
  const rows = spec.fields.map((f) => {
    const id = `${spec.id}-${f.name}`;
    const input = h('input', {
      id, name: f.name, type: f.type || 'text', autocomplete: f.autocomplete || 'off',
      required: true, value: f.value || '', 'aria-describedby': `${id}-error`,
    });
    if (f.readOnly) input.readOnly = true;
    const error = h('p', { id: `${id}-error`, className: 'field-error' });
    inputs.set(f.name, input);
    errors.set(f.name, error);
    return h('div', { className: 'row field' }, h('label', { for: id, text: f.label }), input, error);
  });
  const alert = h('p', { className: 'form-error', role: 'alert' });
  const message = h('p', { className: 'form-message', role: 'status', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', className: 'primary', text: spec.submit });
  const form = h('form', {
    className: 'card account-form',
    novalidate: true,
    onsubmit: (e) => {
      e.preventDefault();
      if (button.disabled) return;
      const values = {};
      for (const [name, input] of inputs) values[name] = input.value;
      spec.onSubmit(values);
    },
  },
  h('h2', { text: spec.title }),
  spec.intro ? h('p', { className: 'intro', text: spec.intro }) : null,
  ...(spec.before || []),
  ...rows,
  alert,
  h('div', { className: 'row' }, button),
  message,
  ...(spec.after || []));
  const page = h('div', { className: 'account-page' }, form);
  root.replaceChildren(page);
  inputs.values().next().value?.focus();

  function clear() {
    alert.textContent = '';
    message.textContent = '';
    for (const [name, el] of errors) {
      el.textContent = '';
      inputs.get(name).removeAttribute('aria-invalid');
    }
  }

  return {
    form,
    page,
    inputs,
    clear,
    /** Shows `data.error` in the alert and each `data.fields[name]` next to its field. */
    setErrors(data) {
      clear();
      const fields = (data && data.fields) || {};
      const extra = [];
      for (const [name, text] of Object.entries(fields)) {
        const el = errors.get(name);
        if (el) {
          el.textContent = String(text);
          inputs.get(name).setAttribute('aria-invalid', 'true');
        } else {
          extra.push(String(text));
        }
      }
      alert.textContent = [data?.error || '', ...extra].filter(Boolean).join(' ');
      // Focus the first marked field, in the order of the form.
      [...inputs.values()].find((i) => i.getAttribute('aria-invalid') === 'true')?.focus();
    },
    setMessage(text) {
      clear();
      message.textContent = text || '';
    },
    setBusy(busy) {
      button.disabled = busy;
    },
    /** Replaces the fields with `nodes` (after success). */
    done(...nodes) {
      form.replaceChildren(h('h2', { text: spec.title }), message, ...nodes);
    },
  };
}

function link(href, text) {
  return h('a', { href, text, 'data-route': '' });
}

export function renderSignup(root, actions) {
  return renderForm(root, {
    id: 'signup',
    title: 'Create account',
    fields: [
      { name: 'username', label: 'Username', autocomplete: 'username' },
      { name: 'email', label: 'Email', type: 'email', autocomplete: 'email' },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password' },
      { name: 'confirm', label: 'Confirm password', type: 'password', autocomplete: 'new-password' },
    ],
    submit: 'Create account',
    after: [h('p', { className: 'links' }, 'Already have an account? ', link('/signin', 'Sign in'))],
    onSubmit: actions.onSubmit,
  });
}

export function renderSignin(root, actions) {
  return renderForm(root, {
    id: 'signin',
    title: 'Sign in',
    fields: [
      { name: 'login', label: 'Username or email', autocomplete: 'username' },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password' },
    ],
    submit: 'Sign in',
    after: [h('p', { className: 'links' },
      link('/forgot', 'Forgot password?'), ' · No account yet? ', link('/signup', 'Create account'))],
    onSubmit: actions.onSubmit,
  });
}

export function renderForgot(root, actions) {
  return renderForm(root, {
    id: 'forgot',
    title: 'Forgot password',
    intro: 'Enter the email address of your account and we will send you a link to set a new password.',
    fields: [{ name: 'email', label: 'Email', type: 'email', autocomplete: 'email' }],
    submit: 'Send reset link',
    after: [h('p', { className: 'links' }, link('/signin', 'Back to sign in'))],
    onSubmit: actions.onSubmit,
  });
}

export function renderReset(root, actions) {
  return renderForm(root, {
    id: 'reset',
    title: 'Set a new password',
    fields: [
      { name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password' },
      { name: 'confirm', label: 'Confirm password', type: 'password', autocomplete: 'new-password' },
    ],
    submit: 'Set new password',
    onSubmit: actions.onSubmit,
  });
}

/** Link to sign in, for after a reset. */
export function signInLink() {
  return h('p', { className: 'links' }, link('/signin', 'Sign in'));
}

/**
 * The account page: who you are, change password, sign out.
 * @param {object} user {username, email}
 * @param {object} actions {onChangePassword(values), onSignOut()}
 */
export function renderAccount(root, user, actions) {
  const ui = renderForm(root, {
    id: 'password',
    title: 'Change password',
    fields: [
      { name: 'current', label: 'Current password', type: 'password', autocomplete: 'current-password' },
      { name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password' },
      { name: 'confirm', label: 'Confirm password', type: 'password', autocomplete: 'new-password' },
    ],
    submit: 'Change password',
    onSubmit: actions.onChangePassword,
  });
  const who = h('section', { className: 'card' },
    h('h2', { text: 'Account' }),
    h('p', { text: `Signed in as ${user.username}` }),
    user.email ? h('p', { className: 'muted', text: user.email }) : null,
    h('p', { className: 'links' }, link('/calls', 'Recent calls'), ' · ', link('/', 'Home')),
    h('div', { className: 'row' },
      h('button', { type: 'button', text: 'Sign out', onclick: () => actions.onSignOut() })));
  ui.page.prepend(who);
  return ui;
}

/** For pages that need an account, when nobody is signed in. */
export function renderSignInRequired(root, what) {
  root.replaceChildren(h('div', { className: 'account-page' },
    h('section', { className: 'card' },
      h('h2', { text: what }),
      h('p', { text: 'You need to be signed in to see this page.' }),
      h('p', { className: 'links' }, link('/signin', 'Sign in'), ' · ', link('/signup', 'Create account')))));
}
