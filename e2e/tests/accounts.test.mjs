// Accounts in the browser: sign up, sign out, sign in, and a password reset by email delivered
// over real SMTP (lib/smtp_sink.py, aiosmtpd) — plus the errors people see on the way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, startSmtpSink, signUp, signIn, signOut, submitSignIn, goOnline, UI_TIMEOUT,
} from '../lib/harness.mjs';

let sink;
let world;
before(async () => {
  sink = await startSmtpSink();
  // No --public-url: the links in mails then use the request's Host, i.e. this server's URL.
  world = await setup({ serverArgs: ['--smtp-url', sink.smtpUrl, '--mail-from', 'Confer <confer@localhost>'] });
});
after(async () => {
  await world?.close();
  await sink?.stop();
});

const ANN = { username: 'ann', email: 'ann@example.org', password: 'first-password-1' };
const NEW_PASSWORD = 'second-password-2';

async function submitReset(page, password) {
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('Confirm password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Set new password' }).click();
}

test('sign up, sign out and in, then reset a forgotten password from the emailed link', { timeout: 90_000 }, async () => {
  const ann = await world.person('ann');

  // Sign up: home, signed in, callable under the username at once.
  await signUp(ann, ANN);
  await ann.getByText('You can be called as ann').waitFor();
  const yourName = ann.getByLabel('Your name');
  assert.equal(await yourName.inputValue(), 'ann');
  assert.equal(await yourName.isEditable(), false);
  await ann.getByRole('link', { name: 'Recent calls' }).waitFor();
  await ann.getByRole('link', { name: 'Account', exact: true }).waitFor();
  assert.equal(await ann.getByRole('link', { name: 'Create account' }).count(), 0);

  await signOut(ann);
  await ann.getByRole('link', { name: 'Create account' }).waitFor();
  assert.equal(await ann.getByText('Signed in as ann').count(), 0);

  await signIn(ann, ANN.username, ANN.password, 'ann');
  await signOut(ann);

  // Forgot password, from the sign-in page.
  await ann.getByRole('link', { name: 'Sign in', exact: true }).click();
  await ann.getByRole('link', { name: 'Forgot password?' }).click();
  await ann.waitForURL('**/forgot');
  await ann.getByLabel('Email', { exact: true }).fill(ANN.email);
  await ann.getByRole('button', { name: 'Send reset link' }).click();
  await ann.getByRole('status').filter({ hasText: 'If an account uses that address' }).waitFor();

  const mail = await sink.waitForMail((m) => m.to.some((t) => t.includes(ANN.email)));
  const match = mail.text.match(/https?:\/\/[^\s<>"]+\/reset\?token=[^\s<>"]+/);
  assert.ok(match, `no reset link in the mail:\n${mail.text}`);
  const link = match[0];
  assert.ok(link.startsWith(`${world.url}/reset?token=`), `unexpected link ${link}`);

  // The link: set a new password.
  await ann.goto(link);
  await submitReset(ann, NEW_PASSWORD);
  await ann.getByText('Your password is changed').waitFor();
  await ann.getByRole('link', { name: 'Sign in', exact: true }).click();
  await ann.waitForURL('**/signin');

  // The old password no longer works…
  await submitSignIn(ann, ANN.username, ANN.password);
  await ann.getByRole('alert').filter({ hasText: /wrong username, email or password/i }).waitFor();
  assert.equal(new URL(ann.url()).pathname, '/signin');

  // …the new one does, by email too.
  await signIn(ann, ANN.email, NEW_PASSWORD, 'ann');

  // The link works once.
  await ann.goto(link);
  await submitReset(ann, 'third-password-3');
  await ann.getByRole('alert').filter({ hasText: /invalid, expired or already used/i }).waitFor();
  assert.equal(await ann.getByText('Your password is changed').count(), 0);
  await ann.context().close();
});

test('sign-up with a taken username shows the error next to the field', { timeout: 30_000 }, async () => {
  const other = await world.person('other');
  await other.goto('/signup');
  await other.getByLabel('Username', { exact: true }).fill('ANN'); // unique ignoring case
  await other.getByLabel('Email', { exact: true }).fill('someone-else@example.org');
  await other.getByLabel('Password', { exact: true }).fill('whatever-pass-1');
  await other.getByLabel('Confirm password', { exact: true }).fill('whatever-pass-1');
  await other.getByRole('button', { name: 'Create account' }).click();

  const username = other.getByLabel('Username', { exact: true });
  await other.getByText('That username is already taken.').waitFor();
  await other.waitForFunction(
    () => document.getElementById('signup-username')?.getAttribute('aria-invalid') === 'true',
    null,
    { timeout: UI_TIMEOUT },
  );
  // The error is the field's description, right after it.
  const described = await username.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby'))?.textContent);
  assert.equal(described, 'That username is already taken.');
  assert.equal(await other.getByLabel('Email', { exact: true }).getAttribute('aria-invalid'), null);
  assert.equal(new URL(other.url()).pathname, '/signup');

  // Mismatched confirmation: the server's field error for "Confirm password".
  await other.getByLabel('Username', { exact: true }).fill('someone-else');
  await other.getByLabel('Confirm password', { exact: true }).fill('not-the-same-1');
  await other.getByRole('button', { name: 'Create account' }).click();
  await other.waitForFunction(
    () => document.getElementById('signup-confirm')?.getAttribute('aria-invalid') === 'true',
    null,
    { timeout: UI_TIMEOUT },
  );
  assert.equal(await other.getByText('That username is already taken.').count(), 0);
  await other.context().close();
});

test('a guest cannot go online under a registered username', { timeout: 30_000 }, async () => {
  const guest = await world.person('guest');
  await guest.goto('/');
  await guest.getByLabel('Your name').fill('ann');
  await guest.getByRole('button', { name: 'Go online' }).click();
  await guest.getByText('ann belongs to a registered user').waitFor();
  assert.equal(await guest.getByText('You can be called as ann').count(), 0);
  await goOnline(guest, 'ann-the-guest');
  await guest.context().close();
});

test('the account page changes the password and signs out', { timeout: 30_000 }, async () => {
  const cat = await world.person('cat');
  await signUp(cat, { username: 'cat', email: 'cat@example.org', password: 'cat-password-1' });
  await cat.getByRole('link', { name: 'Account', exact: true }).click();
  await cat.waitForURL('**/account');

  const change = async (current, password) => {
    await cat.getByLabel('Current password', { exact: true }).fill(current);
    await cat.getByLabel('New password', { exact: true }).fill(password);
    await cat.getByLabel('Confirm password', { exact: true }).fill(password);
    await cat.getByRole('button', { name: 'Change password' }).click();
  };
  await change('not-my-password', 'cat-password-2');
  await cat.getByText('That is not your current password.').waitFor();
  assert.equal(await cat.getByLabel('Current password', { exact: true }).getAttribute('aria-invalid'), 'true');

  await change('cat-password-1', 'cat-password-2');
  await cat.getByRole('status').filter({ hasText: 'Your password is changed.' }).waitFor();

  await cat.getByRole('button', { name: 'Sign out' }).click();
  await cat.getByRole('link', { name: 'Sign in', exact: true }).waitFor();
  assert.equal(new URL(cat.url()).pathname, '/');
  await signIn(cat, 'cat', 'cat-password-2');
  await cat.context().close();
});
