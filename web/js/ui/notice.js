// The status area: one message at a time, read out by screen readers (role="status").

let noticeEl = null;
let connectionEl = null;

export function initNotices(notice, connection) {
  noticeEl = notice;
  connectionEl = connection;
}

export function showNotice(text, kind = 'info') {
  if (!noticeEl) return;
  noticeEl.textContent = text || '';
  noticeEl.dataset.kind = kind;
}

export function clearNotice() {
  showNotice('');
}

export function showConnectionLost(lost) {
  if (!connectionEl) return;
  connectionEl.textContent = lost ? 'Connection lost — reconnecting…' : '';
}
