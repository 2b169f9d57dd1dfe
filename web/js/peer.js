// One RTCPeerConnection per remote participant, negotiated with the W3C "perfect
// negotiation" pattern (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example).
//
// `polite` comes from the server (docs/protocol.md): it is the side *we* play towards this peer.
// No UI in here: the owner passes callbacks and renders what they report.

const RESTART_GRACE_MS = 15_000;
const FIRST_OFFER_WAIT_MS = 3_000;

export class Peer {
  /**
   * @param {object} opts
   * @param {string} opts.id          the remote peer's connection id
   * @param {string} opts.name        its display name
   * @param {boolean} opts.polite     our role towards it
   * @param {RTCConfiguration} opts.rtcConfig  {iceServers, iceTransportPolicy}
   * @param {MediaStream|null} opts.localStream
   * @param {(msg: object) => void} opts.sendSignal  sends {description?, candidate?} to this peer
   * @param {(stream: MediaStream) => void} [opts.onStream]
   * @param {(state: string) => void} [opts.onState]
   * @param {() => void} [opts.onFailed]  ICE restart did not bring the connection back
   * @param {(msg: object) => void} [opts.onData]  a message that came over the data channel
   * @param {(stream: MediaStream|null) => void} [opts.onScreen]  their screen share came or went
   */
  constructor({ id, name, polite, rtcConfig, localStream, sendSignal, onStream, onState, onFailed, onData, onScreen }) {
    this.id = id;
    this.name = name;
    this.polite = !!polite;
    this.sendSignal = sendSignal;
    this.onStream = onStream || (() => {});
    this.onState = onState || (() => {});
    this.onFailed = onFailed || (() => {});
    this.onData = onData || (() => {});
    this.onScreen = onScreen || (() => {});
    this.videoSender = null;
    this.audioSender = null;
    this.screenSenders = new Set();
    this.remoteScreen = null;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.pendingCandidates = [];
    this.queue = Promise.resolve();
    this.closed = false;
    this.restartTimer = null;
    this.remoteStream = null;

    const pc = new RTCPeerConnection(rtcConfig);
    this.pc = pc;

    this.addLocalMedia(localStream);

    // Chat and control messages go peer to peer. The channel is negotiated (same id on both
    // sides) so it needs no in-band announcement and no ordering between the two offers.
    this.channel = pc.createDataChannel('chat', { negotiated: true, id: 0 });
    this.channel.onmessage = (ev) => {
      if (typeof ev.data !== 'string' || ev.data.length > 16_384) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg === 'object' && typeof msg.type === 'string') this.onData(msg);
    };

    // Glare is handled by perfect negotiation, but avoiding it is cheaper and more robust:
    // the impolite side makes the first offer; the polite side answers it, and only offers
    // on its own if no offer has come after FIRST_OFFER_WAIT_MS (or later, to renegotiate).
    this.gotRemoteOffer = !this.polite;
    this.firstOfferTimer = null;
    if (this.polite) {
      this.firstOfferTimer = setTimeout(() => {
        this.firstOfferTimer = null;
        if (!this.gotRemoteOffer && !this.closed) {
          this.gotRemoteOffer = true;
          if (pc.signalingState === 'stable' && !pc.remoteDescription) this.negotiate();
        }
      }, FIRST_OFFER_WAIT_MS);
    }

    pc.onnegotiationneeded = () => {
      if (!this.gotRemoteOffer) return; // the first offer comes from the other side
      this.negotiate();
    };

    pc.onicecandidate = ({ candidate }) => {
      this.sendSignal({ candidate: candidate ? candidate.toJSON() : null });
    };

    pc.ontrack = ({ track, streams, transceiver }) => {
      if (!this.isMain(transceiver)) {
        this.addRemoteScreenTrack(track, streams && streams[0]);
        return;
      }
      if (streams && streams[0]) {
        this.remoteStream = streams[0];
      } else {
        if (!this.remoteStream) this.remoteStream = new MediaStream();
        this.remoteStream.addTrack(track);
      }
      this.onStream(this.remoteStream);
    };

    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      this.onState(state);
      if (state === 'failed') {
        this.restart();
      } else if (state === 'connected') {
        clearTimeout(this.restartTimer);
        this.restartTimer = null;
      }
    };
  }

  async negotiate() {
    const pc = this.pc;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      if (pc.localDescription) this.sendSignal({ description: pc.localDescription.toJSON() });
    } catch (e) {
      console.warn(`negotiation with ${this.id} failed`, e);
    } finally {
      this.makingOffer = false;
    }
  }

  addLocalMedia(stream) {
    const pc = this.pc;
    const audio = stream?.getAudioTracks()[0];
    const video = stream?.getVideoTracks()[0];
    // Send what we have; receive in any case, so a participant without a camera or
    // microphone still gets everyone else's media.
    if (audio) this.audioSender = pc.addTrack(audio, stream);
    else pc.addTransceiver('audio', { direction: 'recvonly' });
    if (video) this.videoSender = pc.addTrack(video, stream);
    else pc.addTransceiver('video', { direction: 'recvonly' });
    this.localStream = stream;
  }

  /**
   * Puts a new camera track in (or none: `null` while the camera is off). Uses
   * RTCRtpSender.replaceTrack, so the call is not renegotiated — except for a connection made
   * while we had no video track at all, which gets the track added (one renegotiation).
   */
  async setVideoTrack(track, stream) {
    if (this.closed) return;
    if (this.videoSender) {
      await this.videoSender.replaceTrack(track);
    } else if (track) {
      // No camera when this connection started: send on the m-line the camera would have used,
      // so the other side still sees it as the camera and not as a screen share.
      const t = this.pc.getTransceivers().find((x) => x.mid !== null && x.receiver.track.kind === 'video' && this.isMain(x));
      if (t) {
        t.direction = 'sendrecv';
        await t.sender.replaceTrack(track);
        if (stream && t.sender.setStreams) t.sender.setStreams(stream);
        this.videoSender = t.sender;
      } else {
        this.videoSender = this.pc.addTrack(track, stream);
      }
    }
  }

  /**
   * The camera and microphone travel on the first audio and the first video m-line (the
   * lowest mid of each kind); every later one carries a screen share.
   */
  isMain(transceiver) {
    const kind = transceiver.receiver.track.kind;
    // Chromium's mids are "0", "1", …; Firefox's "sdparta_0", "sdparta_1", …
    const num = (mid) => { const m = /(\d+)$/.exec(mid); return m ? Number(m[1]) : Infinity; };
    let lowest = null;
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === null || t.receiver.track.kind !== kind || this.screenSenders.has(t.sender)) continue;
      if (lowest === null || num(t.mid) < num(lowest.mid) || (num(t.mid) === num(lowest.mid) && t.mid < lowest.mid)) lowest = t;
    }
    return lowest === transceiver;
  }

  addRemoteScreenTrack(track, stream) {
    if (stream) {
      if (this.remoteScreen !== stream) {
        this.remoteScreen = stream;
        stream.onremovetrack = () => {
          if (this.remoteScreen === stream && stream.getTracks().length === 0) this.endRemoteScreen();
        };
      }
    } else {
      if (!this.remoteScreen) this.remoteScreen = new MediaStream();
      this.remoteScreen.addTrack(track);
    }
    track.addEventListener('ended', () => {
      if (this.remoteScreen && this.remoteScreen.getTracks().every((t) => t.readyState === 'ended')) this.endRemoteScreen();
    });
    this.onScreen(this.remoteScreen);
  }

  endRemoteScreen() {
    if (!this.remoteScreen) return;
    this.remoteScreen = null;
    this.onScreen(null);
  }

  /** Sends a screen share as its own stream, on new m-lines (renegotiates). */
  addScreen(stream) {
    if (this.closed) return;
    for (const track of stream.getTracks()) {
      const t = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      this.screenSenders.add(t.sender);
    }
  }

  /** Stops sending the screen share (renegotiates; the m-lines are stopped). */
  removeScreen() {
    if (this.closed) return;
    for (const sender of this.screenSenders) {
      const t = this.pc.getTransceivers().find((x) => x.sender === sender);
      try {
        if (t && t.stop) t.stop();
        else this.pc.removeTrack(sender);
      } catch (e) {
        console.warn('could not stop the screen share sender', e);
      }
    }
    this.screenSenders.clear();
  }

  /** Another microphone: replaceTrack on the audio sender, no renegotiation. */
  async setAudioTrack(track) {
    if (!this.closed && this.audioSender) await this.audioSender.replaceTrack(track);
  }

  /** Whether the data channel is open (chat can go peer to peer). */
  get channelOpen() {
    return !this.closed && this.channel.readyState === 'open';
  }

  /** Sends a message over the data channel; false when the channel is not open. */
  sendData(msg) {
    if (!this.channelOpen) return false;
    try {
      this.channel.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  restart() {
    if (this.closed) return;
    console.info(`ICE failed with ${this.id}; restarting ICE`);
    this.pc.restartIce();
    if (!this.restartTimer) {
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.closed && this.pc.connectionState !== 'connected') this.onFailed();
      }, RESTART_GRACE_MS);
    }
  }

  /** A `signal` message relayed from this peer. Processed strictly in arrival order. */
  handleSignal(msg) {
    this.queue = this.queue.then(() => this.processSignal(msg)).catch((e) => {
      console.warn(`signal from ${this.id} failed`, e);
    });
    return this.queue;
  }

  async processSignal({ description, candidate }) {
    if (this.closed) return;
    const pc = this.pc;
    if (description) {
      const offerCollision =
        description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
      this.ignoreOffer = !this.polite && offerCollision;
      if (this.ignoreOffer) return;
      if (description.type === 'offer' && !this.gotRemoteOffer) {
        this.gotRemoteOffer = true;
        clearTimeout(this.firstOfferTimer);
        this.firstOfferTimer = null;
      }
      // For a polite peer in a collision this rolls back our own offer implicitly.
      await pc.setRemoteDescription(description);
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        this.sendSignal({ description: pc.localDescription.toJSON() });
      }
      const queued = this.pendingCandidates;
      this.pendingCandidates = [];
      for (const c of queued) await this.addCandidate(c);
    }
    if (candidate !== undefined) {
      if (candidate === null) return; // end-of-candidates: nothing to do
      if (!pc.remoteDescription) this.pendingCandidates.push(candidate);
      else await this.addCandidate(candidate);
    }
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (e) {
      if (!this.ignoreOffer) console.warn(`bad ICE candidate from ${this.id}`, e);
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.firstOfferTimer);
    this.pc.onnegotiationneeded = null;
    this.pc.onicecandidate = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.channel.onmessage = null;
    this.pc.close();
  }
}
