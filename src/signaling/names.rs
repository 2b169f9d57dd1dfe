//! Validation of names people choose: display names, registered names and room names.

/// Longest display or registered name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;

/// A display name: trimmed, 1–32 characters, no control characters.
pub fn clean_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return None;
    }
    Some(name.to_owned())
}

/// The key under which a registered name is unique (case-insensitive).
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A room name: 1–64 of ASCII letters, digits, `-`, `_`, `.`.
pub fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= MAX_ROOM_CHARS
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Chat text: 1–2000 characters after trimming.
pub fn valid_chat(text: &str) -> bool {
    let len = text.trim().chars().count();
    (1..=MAX_CHAT_CHARS).contains(&len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(clean_name("  Ann  ").as_deref(), Some("Ann"));
        assert_eq!(clean_name("Zoë 🙂").as_deref(), Some("Zoë 🙂"));
        assert!(clean_name("").is_none());
        assert!(clean_name("   ").is_none());
        assert!(clean_name("a\u{0}b").is_none());
        assert!(clean_name(&"x".repeat(33)).is_none());
        assert_eq!(name_key("ÀNN"), name_key("àNn"));
    }

    #[test]
    fn rooms() {
        assert!(valid_room("blue-fox-42"));
        assert!(valid_room("a.b_c"));
        assert!(!valid_room(""));
        assert!(!valid_room("a b"));
        assert!(!valid_room("../etc"));
        assert!(!valid_room(&"r".repeat(65)));
    }

    #[test]
    fn chat() {
        assert!(valid_chat("hi"));
        assert!(!valid_chat("  "));
        assert!(!valid_chat(&"x".repeat(2001)));
    }
}
