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
   */
  constructor({ id, name, polite, rtcConfig, localStream, sendSignal, onStream, onState, onFailed }) {
    this.id = id;
    this.name = name;
    this.polite = !!polite;
    this.sendSignal = sendSignal;
    this.onStream = onStream || (() => {});
    this.onState = onState || (() => {});
    this.onFailed = onFailed || (() => {});
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

    pc.ontrack = ({ track, streams }) => {
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
    if (audio) pc.addTrack(audio, stream);
    else pc.addTransceiver('audio', { direction: 'recvonly' });
    if (video) pc.addTrack(video, stream);
    else pc.addTransceiver('video', { direction: 'recvonly' });
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
    this.pc.close();
  }
}
