//! The v1 signaling protocol: one JSON object per text frame, tagged by `type`.
//! `docs/protocol.md` describes exactly these types.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{IceServer, IceTransportPolicy};

/// Opaque identifier of one connection (a peer).
pub type PeerId = String;
/// Opaque identifier of one call by name.
pub type CallId = String;

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    Register {
        name: String,
    },
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    Leave,
    Signal {
        to: PeerId,
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        description: Option<RawJson>,
        /// `Some` of JSON `null` is an explicit end-of-candidates and is relayed as such.
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        candidate: Option<RawJson>,
    },
    Call {
        user: String,
    },
    Accept {
        call: CallId,
    },
    Decline {
        call: CallId,
    },
    Cancel {
        call: CallId,
    },
    Hangup,
    Chat {
        text: String,
    },
    Media(MediaState),
    /// The host locks or unlocks the room.
    Lock {
        locked: bool,
    },
    /// The host removes a participant.
    Remove {
        peer: PeerId,
    },
    Ping,
}

impl ClientMsg {
    /// Its `type`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMsg::Register { .. } => "register",
            ClientMsg::Join { .. } => "join",
            ClientMsg::Leave => "leave",
            ClientMsg::Signal { .. } => "signal",
            ClientMsg::Call { .. } => "call",
            ClientMsg::Accept { .. } => "accept",
            ClientMsg::Decline { .. } => "decline",
            ClientMsg::Cancel { .. } => "cancel",
            ClientMsg::Hangup => "hangup",
            ClientMsg::Chat { .. } => "chat",
            ClientMsg::Media(_) => "media",
            ClientMsg::Lock { .. } => "lock",
            ClientMsg::Remove { .. } => "remove",
            ClientMsg::Ping => "ping",
        }
    }
}

/// The client `type` names, to tell an unknown type from a malformed known one.
pub const CLIENT_TYPES: &[&str] = &[
    "register", "join", "leave", "signal", "call", "accept", "decline", "cancel", "hangup", "chat",
    "media", "lock", "remove", "ping",
];

/// A field that is present (even as `null`) deserializes to `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A JSON value the server relays without looking inside (the `description` and `candidate`
/// of `signal`): kept as the client's own text and written out verbatim, so relaying a 5 KB
/// offer costs one copy instead of parsing it into a tree of allocations and escaping it
/// back out. [`decode`] captures it straight from the frame; other deserializers (tests,
/// clients reading [`ServerMsg`]) go through [`Value`], which is slower but equivalent.
#[derive(Debug, Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// Whether this is JSON `null` (an explicit end-of-candidates).
    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }

    /// Length in bytes of the `"sdp"` string member, 0 when there is none (not an object, no
    /// such member, not a string). The decoded string is never longer than its JSON text, so
    /// a value whose whole text is within `max` answers without being parsed.
    pub fn sdp_longer_than(&self, max: usize) -> bool {
        let text = self.0.get();
        if text.len() <= max {
            return false;
        }
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let len = value
            .get("sdp")
            .and_then(|s| s.as_str())
            .map_or(0, str::len);
        len > max
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        // Writing a `Value` as JSON cannot fail (its map keys are strings).
        let raw = serde_json::value::to_raw_value(&value)
            .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("valid JSON"));
        RawJson(raw)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    /// Through [`Value`], so it works behind serde's buffering of internally tagged enums
    /// (where [`RawValue`] itself cannot be captured).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(RawJson::from)
    }
}

/// `signal` read straight from the frame text, so `description` and `candidate` are captured
/// as [`RawValue`]s: the derived `ClientMsg` decoder buffers the whole frame first (serde's
/// internally tagged enums do), which allocates a copy of every string in it.
#[derive(Deserialize)]
struct SignalFrame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    to: PeerId,
    #[serde(default, deserialize_with = "present")]
    description: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "present")]
    candidate: Option<Box<RawValue>>,
}

/// The fast path of [`decode`]: `Some` only for a well-formed `signal`; anything else (other
/// types, errors, escapes in `type`) goes to the general decoder, which gives the same result
/// or the same error it always did.
fn decode_signal(text: &str) -> Option<ClientMsg> {
    // A derived struct would also accept a JSON array; a message must be an object.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let frame: SignalFrame = serde_json::from_str(text).ok()?;
    (frame.kind == "signal").then(|| ClientMsg::Signal {
        to: frame.to,
        description: frame.description.map(RawJson),
        candidate: frame.candidate.map(RawJson),
    })
}

/// Whether a participant's microphone, camera and screen share are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    pub audio: bool,
    pub video: bool,
    pub screen: bool,
}

impl Default for MediaState {
    fn default() -> Self {
        MediaState {
            audio: true,
            video: true,
            screen: false,
        }
    }
}

/// A participant as others see it. `polite` is the receiver's role towards this peer in
/// perfect negotiation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub id: PeerId,
    pub name: String,
    pub polite: bool,
    pub media: MediaState,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Hangup,
    Disconnected,
    Declined,
    Cancelled,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        id: PeerId,
        user: Option<String>,
        ice_servers: Vec<IceServer>,
        ice_transport_policy: IceTransportPolicy,
        /// The token to resume this session with after a lost connection.
        resume: Option<String>,
        /// Whether this `welcome` continues an earlier session (same id, room and call).
        #[serde(default)]
        resumed: bool,
        version: u32,
    },
    Registered {
        name: String,
    },
    Joined {
        room: String,
        you: PeerInfo,
        peers: Vec<PeerInfo>,
        /// The host: the member present longest, who may lock the room and remove people.
        host: PeerId,
        locked: bool,
    },
    /// The room's host or lock changed.
    RoomState {
        room: String,
        host: PeerId,
        locked: bool,
    },
    /// The host removed you from the room.
    Removed {
        room: String,
    },
    PeerJoined {
        peer: PeerInfo,
    },
    PeerLeft {
        peer: PeerId,
    },
    Left {
        room: String,
    },
    RoomFull {
        room: String,
        capacity: usize,
    },
    Signal {
        from: PeerId,
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        description: Option<RawJson>,
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        candidate: Option<RawJson>,
    },
    Calling {
        call: CallId,
        user: String,
    },
    IncomingCall {
        call: CallId,
        from: PeerInfo,
    },
    CallAccepted {
        call: CallId,
        peer: PeerInfo,
    },
    CallDeclined {
        call: CallId,
    },
    CallCancelled {
        call: CallId,
    },
    CallMissed {
        call: CallId,
    },
    Busy {
        call: CallId,
        user: String,
    },
    CallEnded {
        call: CallId,
        reason: EndReason,
    },
    Chat {
        from: PeerId,
        name: String,
        text: String,
        at: u64,
    },
    Media {
        from: PeerId,
        #[serde(flatten)]
        state: MediaState,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    Pong,
}

impl ServerMsg {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMsg {
        ServerMsg::Error {
            code,
            message: message.into(),
        }
    }

    /// The frame as JSON text. Serializing these types cannot fail (string keys, no maps
    /// with non-string keys), so a failure is a bug worth a loud log line, not a crash.
    pub fn to_json(&self) -> String {
        // Sized up front: a relayed offer would otherwise be copied at every doubling.
        let mut out = Vec::with_capacity(self.json_size_hint());
        match serde_json::to_writer(&mut out, self) {
            // serde_json writes UTF-8 only.
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize a server message");
                r#"{"type":"error","code":"internal","message":"internal error"}"#.to_owned()
            }
        }
    }

    /// About how long the JSON text is: exact enough for a relayed payload, generous for
    /// the small frames.
    fn json_size_hint(&self) -> usize {
        const ENVELOPE: usize = 128;
        match self {
            ServerMsg::Signal {
                from,
                description,
                candidate,
            } => {
                let raw = |r: &Option<RawJson>| r.as_ref().map_or(0, |r| r.get().len());
                ENVELOPE + from.len() + raw(description) + raw(candidate)
            }
            _ => ENVELOPE,
        }
    }
}

/// Machine-readable error codes of `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidMessage,
    UnknownType,
    InvalidName,
    InvalidRoom,
    NameTaken,
    AlreadyInRoom,
    NotInRoom,
    BusyInCall,
    AlreadyInCall,
    NotAPeer,
    UserOffline,
    CannotCallSelf,
    WrongPassword,
    RoomLocked,
    NotHost,
    RateLimited,
    SdpTooLarge,
    TooManyCandidates,
    RegisterFirst,
    NoSuchCall,
    InvalidChat,
    SignInRequired,
    Internal,
}

impl ErrorCode {
    /// The code as it appears in `error` frames.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidRoom => "invalid_room",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::AlreadyInRoom => "already_in_room",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::BusyInCall => "busy_in_call",
            ErrorCode::AlreadyInCall => "already_in_call",
            ErrorCode::NotAPeer => "not_a_peer",
            ErrorCode::UserOffline => "user_offline",
            ErrorCode::CannotCallSelf => "cannot_call_self",
            ErrorCode::WrongPassword => "wrong_password",
            ErrorCode::RoomLocked => "room_locked",
            ErrorCode::NotHost => "not_host",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::SdpTooLarge => "sdp_too_large",
            ErrorCode::TooManyCandidates => "too_many_candidates",
            ErrorCode::RegisterFirst => "register_first",
            ErrorCode::NoSuchCall => "no_such_call",
            ErrorCode::InvalidChat => "invalid_chat",
            ErrorCode::SignInRequired => "sign_in_required",
            ErrorCode::Internal => "internal",
        }
    }
}

/// Why a text frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("{0}")]
    Invalid(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
}

impl DecodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Invalid(_) => ErrorCode::InvalidMessage,
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
        }
    }
}

/// Decode one client frame, telling an unknown `type` apart from a malformed message.
pub fn decode(text: &str) -> Result<ClientMsg, DecodeError> {
    let decoded = match decode_signal(text) {
        Some(signal) => Ok(signal),
        None => serde_json::from_str::<ClientMsg>(text),
    };
    match decoded {
        Ok(ClientMsg::Signal {
            description: None,
            candidate: None,
            ..
        }) => Err(DecodeError::Invalid(
            "signal needs a description or a candidate".into(),
        )),
        Ok(msg) => Ok(msg),
        Err(err) => {
            #[derive(Deserialize)]
            struct Tag {
                #[serde(rename = "type")]
                kind: String,
            }
            match serde_json::from_str::<Tag>(text) {
                Ok(tag) if !CLIENT_TYPES.contains(&tag.kind.as_str()) => {
                    Err(DecodeError::UnknownType(truncate(&tag.kind, 40)))
                }
                Ok(_) => Err(DecodeError::Invalid(format!("malformed message: {err}"))),
                Err(_) => Err(DecodeError::Invalid(
                    "expected a JSON object with a \"type\" field".into(),
                )),
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_code_names_match_the_wire() {
        for code in [
            ErrorCode::InvalidMessage,
            ErrorCode::NotAPeer,
            ErrorCode::SdpTooLarge,
        ] {
            assert_eq!(json!(code), json!(code.as_str()));
        }
    }

    #[test]
    fn kinds_match_the_wire() {
        for text in [
            r#"{"type":"media","audio":true,"video":false,"screen":false}"#,
            r#"{"type":"remove","peer":"x"}"#,
            r#"{"type":"ping"}"#,
        ] {
            let msg = decode(text).unwrap();
            assert_eq!(json!(msg)["type"], msg.kind());
        }
    }

    #[test]
    fn decodes_every_client_type() {
        for text in [
            r#"{"type":"register","name":"ann"}"#,
            r#"{"type":"join","room":"r","name":"Ann"}"#,
            r#"{"type":"leave"}"#,
            r#"{"type":"signal","to":"x","candidate":null}"#,
            r#"{"type":"call","user":"ben"}"#,
            r#"{"type":"accept","call":"c"}"#,
            r#"{"type":"decline","call":"c"}"#,
            r#"{"type":"cancel","call":"c"}"#,
            r#"{"type":"hangup"}"#,
            r#"{"type":"chat","text":"hi"}"#,
            r#"{"type":"media","audio":false,"video":true,"screen":false}"#,
            r#"{"type":"lock","locked":true}"#,
            r#"{"type":"remove","peer":"p"}"#,
            r#"{"type":"ping"}"#,
        ] {
            decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        assert_eq!(CLIENT_TYPES.len(), 14);
    }

    #[test]
    fn null_candidate_survives_the_round_trip() {
        let msg = decode(r#"{"type":"signal","to":"x","candidate":null}"#).unwrap();
        let ClientMsg::Signal { candidate, .. } = msg else {
            panic!()
        };
        assert!(candidate.as_ref().is_some_and(RawJson::is_null));
        let out = ServerMsg::Signal {
            from: "y".into(),
            description: None,
            candidate,
        };
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"type":"signal","from":"y","candidate":null})
        );
    }

    #[test]
    fn tells_unknown_types_from_malformed_ones() {
        assert_eq!(
            decode(r#"{"type":"dance"}"#).unwrap_err().code(),
            ErrorCode::UnknownType
        );
        assert_eq!(
            decode(r#"{"type":"join"}"#).unwrap_err().code(),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            decode("not json").unwrap_err().code(),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            decode(r#"{"type":"signal","to":"x"}"#).unwrap_err().code(),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            decode("[1,2]").unwrap_err().code(),
            ErrorCode::InvalidMessage
        );
    }

    #[test]
    fn media_is_flat_on_the_wire() {
        let msg = ServerMsg::Media {
            from: "a".into(),
            state: MediaState {
                audio: false,
                video: true,
                screen: false,
            },
        };
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"type":"media","from":"a","audio":false,"video":true,"screen":false})
        );
    }
}
