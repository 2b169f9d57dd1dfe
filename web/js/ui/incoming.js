// The incoming-call dialog: "<name> is calling", "Answer", "Decline".
import { h } from './dom.js';

/** Shows the dialog; returns a function that closes it. */
export function showIncoming(name, { onAnswer, onDecline }) {
  const answer = h('button', { type: 'button', className: 'primary', text: 'Answer' });
  const decline = h('button', { type: 'button', className: 'danger', text: 'Decline' });
  const dialog = h('div', { className: 'dialog', role: 'dialog', 'aria-label': 'Incoming call', 'aria-modal': 'true' },
    h('p', { className: 'caller', text: `${name} is calling` }),
    h('div', { className: 'row' }, answer, decline));
  const backdrop = h('div', { className: 'backdrop' }, dialog);
  answer.addEventListener('click', () => { answer.disabled = decline.disabled = true; onAnswer(); });
  decline.addEventListener('click', () => { answer.disabled = decline.disabled = true; onDecline(); });
  document.body.append(backdrop);
  answer.focus();
  return () => backdrop.remove();
}
