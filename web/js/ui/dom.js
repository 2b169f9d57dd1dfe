// Tiny DOM helper. Text always goes in through textContent, never innerHTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'className') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Attach a stream to a <video>; falls back to muted playback if autoplay with sound is refused. */
export function playStream(video, stream, onNeedsGesture) {
  if (video.srcObject !== stream) video.srcObject = stream;
  const p = video.play();
  if (p && p.catch) {
    p.catch((e) => {
      if (e.name === 'NotAllowedError' && !video.muted) {
        video.muted = true;
        video.play().catch(() => {});
        if (onNeedsGesture) onNeedsGesture(video);
      }
    });
  }
}
