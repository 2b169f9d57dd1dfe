// Device pickers shared by the pre-join screen and the call: "Camera", "Microphone",
// "Speaker" (only where the browser can choose the audio output) and "Switch camera" (only
// with more than one camera). Renders what it is given; choices go to the callbacks.
import { h } from './dom.js';

let seq = 0;

/**
 * @param {object} actions {onCamera(deviceId), onMicrophone(deviceId), onSpeaker(deviceId), onSwitchCamera()}
 * @returns {{element: HTMLElement, switchButton: HTMLButtonElement, update(devices, current): void}}
 */
export function deviceControls(actions) {
  seq += 1;
  const picker = (label, key, onChange) => {
    const id = `device-${key}-${seq}`;
    const select = h('select', { id, onchange: () => onChange(select.value) });
    const wrap = h('div', { className: 'device', hidden: true }, h('label', { for: id, text: label }), select);
    return { select, wrap };
  };
  const camera = picker('Camera', 'camera', (v) => actions.onCamera(v));
  const mic = picker('Microphone', 'mic', (v) => actions.onMicrophone(v));
  const speaker = picker('Speaker', 'speaker', (v) => actions.onSpeaker(v));
  const switchButton = h('button', { type: 'button', text: 'Switch camera', hidden: true, onclick: () => actions.onSwitchCamera() });
  const element = h('div', { className: 'devices' }, camera.wrap, mic.wrap, speaker.wrap);

  function fill({ select, wrap }, list, current, fallback) {
    select.replaceChildren(...list.map((d, i) => h('option', { value: d.deviceId, text: d.label || `${fallback} ${i + 1}` })));
    if (current && list.some((d) => d.deviceId === current)) select.value = current;
    wrap.hidden = list.length === 0;
  }

  return {
    element,
    switchButton,
    /**
     * @param {{cameras, microphones, speakers}} devices  from listDevices()
     * @param {{camera, microphone, speaker, hasCamera, hasMicrophone, canChooseSpeaker}} current
     */
    update(devices, current) {
      fill(camera, current.hasCamera ? devices.cameras : [], current.camera, 'Camera');
      fill(mic, current.hasMicrophone ? devices.microphones : [], current.microphone, 'Microphone');
      fill(speaker, current.canChooseSpeaker ? devices.speakers : [], current.speaker, 'Speaker');
      switchButton.hidden = !current.hasCamera || devices.cameras.length < 2;
    },
  };
}
