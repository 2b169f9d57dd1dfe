//! Property tests of the protocol codec: every client message round-trips through JSON, and
//! no input — valid, truncated or random — makes the decoder panic.

use confer::signaling::protocol::{ClientMsg, MediaState, RawJson, decode};
use proptest::prelude::*;
use serde_json::{Value, json};

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, backslashes, control characters and emoji.
    any::<String>()
}

fn media() -> impl Strategy<Value = MediaState> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(audio, video, screen)| MediaState {
        audio,
        video,
        screen,
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        text().prop_map(|name| ClientMsg::Register { name }),
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(room, name, password)| ClientMsg::Join {
                room,
                name,
                password
            }),
        Just(ClientMsg::Leave),
        (
            text(),
            proptest::option::of(json_value()),
            proptest::option::of(json_value())
        )
            .prop_filter("a signal carries something", |(_, d, c)| d.is_some()
                || c.is_some())
            .prop_map(|(to, description, candidate)| ClientMsg::Signal {
                to,
                description: description.map(RawJson::from),
                candidate: candidate.map(RawJson::from),
            }),
        text().prop_map(|user| ClientMsg::Call { user }),
        text().prop_map(|call| ClientMsg::Accept { call }),
        text().prop_map(|call| ClientMsg::Decline { call }),
        text().prop_map(|call| ClientMsg::Cancel { call }),
        Just(ClientMsg::Hangup),
        text().prop_map(|text| ClientMsg::Chat { text }),
        media().prop_map(ClientMsg::Media),
        any::<bool>().prop_map(|locked| ClientMsg::Lock { locked }),
        text().prop_map(|peer| ClientMsg::Remove { peer }),
        Just(ClientMsg::Ping),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_client_message_round_trips(msg in client_msg()) {
        let text = serde_json::to_string(&msg).unwrap();
        prop_assert_eq!(decode(&text), Ok(msg));
    }

    #[test]
    fn truncated_messages_never_panic(msg in client_msg(), cut in any::<prop::sample::Index>()) {
        let text = serde_json::to_string(&msg).unwrap();
        let end = cut.index(text.len() + 1);
        if let Some(prefix) = text.get(..end) {
            let _ = decode(prefix);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = decode(&s);
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        let _ = decode(&v.to_string());
    }
}
