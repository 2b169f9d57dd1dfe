// The "Recent calls" page: one row per call with direction, the other person, outcome, time,
// and a "Call <name>" button.
import { h } from './dom.js';

const OUTCOMES = {
  answered: 'Answered',
  declined: 'Declined',
  missed: 'Missed',
  cancelled: 'Cancelled',
  busy: 'Busy',
};

function when(seconds) {
  if (typeof seconds !== 'number') return '';
  return new Date(seconds * 1000).toLocaleString();
}

function duration(c) {
  if (typeof c.answered_at !== 'number' || typeof c.ended_at !== 'number') return '';
  const s = Math.max(0, Math.round(c.ended_at - c.answered_at));
  const m = Math.floor(s / 60);
  return m ? `${m} min ${s % 60} s` : `${s} s`;
}

/**
 * @param {HTMLElement} root
 * @param {object} actions {onCall(name)}
 * @returns {{setCalls(calls), setError(text)}}
 */
export function renderCalls(root, actions) {
  const status = h('p', { className: 'form-message', role: 'status', 'aria-live': 'polite', text: 'Loading…' });
  const alert = h('p', { className: 'form-error', role: 'alert' });
  const list = h('ul', { className: 'calls', 'aria-label': 'Recent calls' });
  root.replaceChildren(h('div', { className: 'account-page' },
    h('section', { className: 'card' },
      h('h2', { text: 'Recent calls' }),
      status,
      alert,
      list,
      h('p', { className: 'links' }, h('a', { href: '/', text: 'Home', 'data-route': '' })))));

  return {
    setCalls(calls) {
      alert.textContent = '';
      status.textContent = calls.length ? '' : 'No calls yet.';
      list.replaceChildren(...calls.map((c) => {
        const other = String(c.other ?? '');
        const incoming = c.direction === 'incoming';
        const outcome = c.outcome ? (OUTCOMES[c.outcome] || String(c.outcome)) : 'In progress';
        const dur = duration(c);
        const time = h('time', { text: when(c.started_at) });
        if (typeof c.started_at === 'number') time.dateTime = new Date(c.started_at * 1000).toISOString();
        return h('li', { className: 'call-row', 'data-call': c.call ? String(c.call) : undefined },
          h('div', { className: 'call-info' },
            h('span', { className: 'direction', text: incoming ? 'Incoming call from ' : 'Outgoing call to ' }),
            h('strong', { className: 'other', text: other }),
            h('span', { className: 'outcome', text: ` — ${outcome}${dur ? ` (${dur})` : ''}` }),
            h('br'),
            time),
          h('button', { type: 'button', text: `Call ${other}`, onclick: () => actions.onCall(other) }));
      }));
    },
    setError(text) {
      status.textContent = '';
      alert.textContent = text;
    },
  };
}
